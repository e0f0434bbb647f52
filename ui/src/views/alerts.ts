// Settings › Alerts: email (SMTP) and webhook, a test, what waits.
import { api, type AlertOn, type AlertsView, type WebhookFormat } from "../api";
import type { Ctx } from "../context";
import { busy, h } from "../dom";
import { errorParts } from "../errors";
import { t } from "../i18n";

/** Recipients typed with commas, semicolons or spaces. */
export function recipients(s: string): string[] {
  return s.split(/[,;\s]+/).map((x) => x.trim()).filter((x) => x.length > 0);
}

export function alertsPanel(ctx: Ctx): HTMLElement {
  const panel = h("div", { id: "alerts-panel", class: "panel" }, h("h3", null, t("alerts.title")), h("p", { class: "muted" }, t("common.loading")));

  function onSelect(id: string, value: AlertOn): HTMLSelectElement {
    const s = h("select", { id, class: "input" },
      h("option", { value: "failure" }, t("alerts.on_failure")),
      h("option", { value: "always" }, t("alerts.on_always")),
    ) as HTMLSelectElement;
    s.value = value;
    return s;
  }

  function render(v: AlertsView) {
    const e = v.settings.email;
    const w = v.settings.webhook;
    const server = h("input", { id: "alert-smtp", class: "input", type: "text", value: e?.server ?? "", placeholder: "smtps://smtp.example.com", autocomplete: "off", spellcheck: "false" }) as HTMLInputElement;
    const starttls = h("input", { id: "alert-starttls", type: "checkbox", checked: e?.starttls ?? false }) as HTMLInputElement;
    const from = h("input", { id: "alert-from", class: "input", type: "email", value: e?.from ?? "" }) as HTMLInputElement;
    const to = h("input", { id: "alert-to", class: "input", type: "text", value: e?.to.join(", ") ?? "" }) as HTMLInputElement;
    const user = h("input", { id: "alert-user", class: "input", type: "text", value: e?.user ?? "", autocomplete: "off" }) as HTMLInputElement;
    const password = h("input", { id: "alert-password", class: "input", type: "password", autocomplete: "new-password", placeholder: e?.user ? t("alerts.password_kept") : "" }) as HTMLInputElement;
    const emailOn = onSelect("alert-email-on", e?.on ?? "failure");
    const emailError = h("p", { id: "alert-email-error", class: "field-error", "aria-live": "polite" });
    const saveEmail = h("button", { id: "alert-email-save", type: "submit", class: "btn" }, t("common.save")) as HTMLButtonElement;
    const removeEmail = h("button", { id: "alert-email-remove", type: "button", class: "btn btn-secondary", disabled: !e }, t("alerts.remove")) as HTMLButtonElement;

    const url = h("input", { id: "alert-webhook-url", class: "input", type: "password", autocomplete: "off", placeholder: w ? w.shown : "https://…" }) as HTMLInputElement;
    const format = h("select", { id: "alert-webhook-format", class: "input" },
      h("option", { value: "json" }, t("alerts.format_json")),
      h("option", { value: "teams" }, "Microsoft Teams"),
      h("option", { value: "slack" }, "Slack"),
    ) as HTMLSelectElement;
    format.value = w?.format ?? "json";
    const hookOn = onSelect("alert-webhook-on", w?.on ?? "failure");
    const hookError = h("p", { id: "alert-webhook-error", class: "field-error", "aria-live": "polite" });
    const saveHook = h("button", { id: "alert-webhook-save", type: "submit", class: "btn" }, t("common.save")) as HTMLButtonElement;
    const removeHook = h("button", { id: "alert-webhook-remove", type: "button", class: "btn btn-secondary", disabled: !w }, t("alerts.remove")) as HTMLButtonElement;

    const test = h("button", { id: "alert-test", type: "button", class: "btn", disabled: !e && !w }, t("alerts.test")) as HTMLButtonElement;
    const results = h("ul", { id: "alert-test-results", class: "plain-list", "aria-live": "polite" });

    const status: HTMLElement[] = [];
    if (w) status.push(h("p", { id: "alert-webhook-shown", class: "muted" }, t("alerts.webhook_set", { where: w.shown })));
    if (v.queued > 0) status.push(h("p", { id: "alert-queued", class: "inline-error" }, t("alerts.queued", { n: String(v.queued), why: v.last_error ?? "" })));
    for (const p of v.problems) status.push(h("p", { class: "muted alert-problem" }, t("alerts.open_problem", { what: p.source ? `${p.source}: ${p.message}` : p.message })));

    async function save(button: HTMLButtonElement, error: HTMLElement, call: () => Promise<void>, said: string) {
      error.textContent = "";
      await busy(button, async () => {
        try {
          await call();
          ctx.result("success", said);
          await load();
        } catch (err) {
          const p = errorParts(err);
          error.textContent = `${p.headline} ${p.message}`;
        }
      });
    }

    const emailForm = h("form", { id: "alert-email-form", novalidate: true, onsubmit: (ev: SubmitEvent) => {
      ev.preventDefault();
      const list = recipients(to.value);
      if (!server.value.trim() || !from.value.trim() || list.length === 0) {
        emailError.textContent = t("alerts.email_missing");
        return;
      }
      void save(saveEmail, emailError, () => api.setEmailAlerts(
        { server: server.value.trim(), starttls: starttls.checked, from: from.value.trim(), to: list, user: user.value.trim() || null, on: emailOn.value as AlertOn },
        password.value === "" ? null : password.value,
      ), t("alerts.email_saved"));
    } },
      h("fieldset", null,
        h("legend", null, t("alerts.email")),
        h("div", { class: "field" }, h("label", { for: "alert-smtp" }, t("alerts.server")), server),
        h("div", { class: "check-row" }, starttls, h("label", { for: "alert-starttls" }, t("alerts.starttls"))),
        h("div", { class: "field" }, h("label", { for: "alert-from" }, t("alerts.from")), from),
        h("div", { class: "field" }, h("label", { for: "alert-to" }, t("alerts.to")), to),
        h("div", { class: "field" }, h("label", { for: "alert-user" }, t("alerts.user")), user),
        h("div", { class: "field" }, h("label", { for: "alert-password" }, t("alerts.password")), password),
        h("div", { class: "field" }, h("label", { for: "alert-email-on" }, t("alerts.when")), emailOn),
        emailError,
      ),
      h("div", { class: "actions" }, saveEmail, removeEmail),
    );
    removeEmail.addEventListener("click", () => void save(removeEmail, emailError, () => api.removeAlerts("email"), t("alerts.removed")));

    const hookForm = h("form", { id: "alert-webhook-form", novalidate: true, onsubmit: (ev: SubmitEvent) => {
      ev.preventDefault();
      if (!url.value.trim()) {
        hookError.textContent = t("alerts.webhook_missing");
        return;
      }
      void save(saveHook, hookError, () => api.setWebhookAlerts(url.value.trim(), format.value as WebhookFormat, hookOn.value as AlertOn), t("alerts.webhook_saved"));
    } },
      h("fieldset", null,
        h("legend", null, t("alerts.webhook")),
        h("div", { class: "field" }, h("label", { for: "alert-webhook-url" }, t("alerts.webhook_url")), url),
        h("div", { class: "field" }, h("label", { for: "alert-webhook-format" }, t("alerts.format")), format),
        h("div", { class: "field" }, h("label", { for: "alert-webhook-on" }, t("alerts.when")), hookOn),
        hookError,
      ),
      h("div", { class: "actions" }, saveHook, removeHook),
    );
    removeHook.addEventListener("click", () => void save(removeHook, hookError, () => api.removeAlerts("webhook"), t("alerts.removed")));

    test.addEventListener("click", () => void busy(test, async () => {
      results.replaceChildren();
      try {
        for (const r of await api.testAlerts()) {
          const channel = r.channel === "email" ? t("alerts.email") : t("alerts.channel_webhook");
          results.append(h("li", { class: r.sent ? "test-ok" : "test-failed" }, r.sent ? t("alerts.test_sent", { channel }) : t("alerts.test_failed", { channel, why: r.error ?? "" })));
        }
      } catch (err) {
        ctx.error(err);
      }
    }));

    panel.replaceChildren(
      h("h3", null, t("alerts.title")),
      h("p", { class: "muted" }, t("alerts.intro")),
      ...status,
      emailForm,
      hookForm,
      h("div", { class: "actions" }, test),
      results,
    );
  }

  async function load() {
    try {
      render(await api.alerts());
    } catch (err) {
      const p = errorParts(err);
      panel.replaceChildren(h("h3", null, t("alerts.title")), h("p", { class: "inline-error" }, `${p.headline} ${p.message}`));
    }
  }
  void load();
  return panel;
}
