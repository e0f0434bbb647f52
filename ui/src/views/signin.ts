// The sign-in dialog: Microsoft's device code flow (code, copy, open the
// page, countdown, wait for approval), and under "Advanced" a custom app
// registration and app-only sign-in with a client secret.
import { api, type Account, type DeviceCode } from "../api";
import type { Ctx } from "../context";
import { field, h } from "../dom";
import { errorCode, errorText } from "../errors";
import { fmtCountdown } from "../format";
import { t } from "../i18n";

type Outcome = "signed_in" | "declined" | "expired" | "error";

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, a[href], [tabindex]:not([tabindex="-1"])';

let closeActive: ((cancel: boolean) => void) | null = null;

/** Closes the sign-in dialog if open (`cancel`: also cancel the pending sign-in). */
export function closeSignInDialog(cancel = false): void {
  closeActive?.(cancel);
}

export function openSignInDialog(ctx: Ctx): void {
  const existing = document.getElementById("sign-in-dialog");
  if (existing) {
    existing.focus();
    return;
  }
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const openerId = opener?.id ?? "";
  let attempt = 0;
  let closed = false;
  let succeeded = false;
  let countdown: ReturnType<typeof setInterval> | undefined;

  const codeBlock = h("div", { id: "sign-in-code", class: "sign-in-code", "aria-live": "polite" });
  const outcome = h("div", { id: "sign-in-outcome", class: "sign-in-outcome", hidden: true, role: "status" });
  const clientId = h("input", { id: "client-id", type: "text", autocomplete: "off", spellcheck: "false", class: "input" });
  const tenant = h("input", { id: "tenant", type: "text", autocomplete: "off", spellcheck: "false", class: "input" });
  const secret = h("input", { id: "app-secret", type: "password", autocomplete: "off", class: "input" });
  const advancedError = h("p", { id: "sign-in-advanced-error", class: "field-error", "aria-live": "polite" });
  const closeBtn = h("button", { id: "sign-in-close", type: "button", class: "btn btn-secondary", onclick: () => close(true) }, t("common.cancel"));

  const advanced = h(
    "details",
    { class: "advanced" },
    h("summary", null, t("signin.advanced")),
    h("p", { class: "muted" }, t("signin.advanced_help")),
    field(t("signin.client_id"), clientId),
    field(t("signin.tenant"), tenant, h("p", { class: "hint" }, t("signin.tenant_hint"))),
    h("button", { id: "sign-in-apply", type: "button", class: "btn btn-secondary", onclick: () => void apply() }, t("signin.apply")),
    h("h4", null, t("signin.app_title")),
    h("p", { class: "muted" }, t("signin.app_help")),
    field(t("signin.app_secret"), secret),
    advancedError,
    h("button", { id: "sign-in-app", type: "button", class: "btn btn-secondary", onclick: (ev: MouseEvent) => void signInApp(ev.currentTarget as HTMLButtonElement) }, t("signin.app_button")),
  );

  const dlg = h(
    "dialog",
    { id: "sign-in-dialog", class: "dialog", "aria-labelledby": "sign-in-title", "aria-modal": "true", tabindex: "-1" },
    h("h2", { id: "sign-in-title" }, t("signin.title")),
    h("p", { class: "muted" }, t("signin.intro")),
    codeBlock,
    outcome,
    advanced,
    h("div", { class: "dialog-actions" }, closeBtn),
  );
  const backdrop = h("div", { class: "dialog-backdrop" });

  dlg.addEventListener("keydown", (ev: KeyboardEvent) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      close(true);
    } else if (ev.key === "Tab") {
      trapTab(ev);
    }
  });
  // Native modal dialogs close on Escape through "cancel".
  dlg.addEventListener("cancel", (ev) => {
    ev.preventDefault();
    close(true);
  });

  function trapTab(ev: KeyboardEvent) {
    const list = [...dlg.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((e) => {
      if (e.closest("[hidden]")) return false;
      const d = e.closest("details");
      return !d || d.open || (e.tagName === "SUMMARY" && e.parentElement === d);
    });
    const first = list[0];
    const last = list[list.length - 1];
    const active = document.activeElement;
    if (ev.shiftKey && (active === first || active === dlg)) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && active === last) {
      ev.preventDefault();
      first.focus();
    }
  }

  const modal = typeof (dlg as HTMLDialogElement).showModal === "function";
  if (modal) {
    document.body.append(dlg);
    dlg.showModal();
  } else {
    document.body.append(backdrop, dlg);
    dlg.setAttribute("open", "");
    document.getElementById("app")?.setAttribute("inert", "");
  }
  dlg.focus();

  api.appRegistration().then(
    (reg) => {
      if (!reg || closed) return;
      if (!clientId.value) clientId.value = reg.client_id;
      if (!tenant.value) tenant.value = reg.tenant;
    },
    () => undefined,
  );

  function close(cancel: boolean) {
    if (closed) return;
    closed = true;
    attempt++;
    clearInterval(countdown);
    if (cancel && !succeeded) api.signInCancel().catch(() => undefined);
    if (modal && dlg.open) dlg.close();
    dlg.remove();
    backdrop.remove();
    document.getElementById("app")?.removeAttribute("inert");
    closeActive = null;
    // The opener may have been redrawn meanwhile: find it again by id.
    const back = opener?.isConnected ? opener : openerId ? document.getElementById(openerId) : null;
    back?.focus();
  }
  closeActive = close;

  function setOutcome(kind: Outcome | null, text = "") {
    outcome.replaceChildren();
    if (!kind) {
      outcome.hidden = true;
      delete outcome.dataset.outcome;
      return;
    }
    outcome.hidden = false;
    outcome.dataset.outcome = kind;
    outcome.className = `sign-in-outcome outcome-${kind}`;
    outcome.append(h("p", { class: "outcome-text" }, text));
    if (kind !== "signed_in") {
      const restart = h("button", { id: "sign-in-restart", type: "button", class: "btn", onclick: () => void start() }, t("signin.restart"));
      outcome.append(restart);
      restart.focus();
    }
  }

  function renderCode(code: DeviceCode) {
    const countdownEl = h("span", { id: "sign-in-countdown", class: "countdown" });
    codeBlock.replaceChildren(
      h("p", null, t("signin.step_copy")),
      h("div", { class: "code-row" },
        h("p", { id: "user-code", class: "user-code" }, code.user_code),
        h("button", { id: "copy-code", type: "button", class: "btn btn-secondary", onclick: () => void copy() }, t("signin.copy")),
      ),
      h("p", null, t("signin.step_open")),
      h("div", { class: "code-row" },
        h("button", { id: "open-sign-in-page", type: "button", class: "btn", onclick: () => void openPage() }, t("signin.open_page")),
        h("span", { id: "verification-uri", class: "verification-uri" }, code.verification_uri),
      ),
      h("p", { class: "muted" }, t("signin.expires_in"), " ", countdownEl),
      h("p", { class: "waiting" }, t("signin.waiting")),
    );
    const expires = Date.parse(code.expires_at);
    const tick = () => {
      const left = Number.isNaN(expires) ? 0 : expires - Date.now();
      countdownEl.textContent = fmtCountdown(left);
      if (left <= 0) clearInterval(countdown);
    };
    clearInterval(countdown);
    tick();
    countdown = setInterval(tick, 1000);
    if (document.activeElement === dlg || document.activeElement === document.body) {
      codeBlock.querySelector<HTMLElement>("#copy-code")?.focus();
    }
  }

  async function copy() {
    try {
      await api.copySignInCode();
      ctx.result("success", t("signin.copied"));
    } catch (e) {
      ctx.error(e);
    }
  }

  async function openPage() {
    try {
      await api.openSignInPage();
    } catch (e) {
      ctx.error(e);
    }
  }

  function failed(e: unknown) {
    clearInterval(countdown);
    const code = errorCode(e);
    if (code === "cancelled") {
      close(false);
      return;
    }
    codeBlock.replaceChildren();
    if (code === "sign_in_declined") setOutcome("declined", t("signin.declined"));
    else if (code === "sign_in_expired") setOutcome("expired", t("signin.expired"));
    else setOutcome("error", t("signin.failed", { reason: errorText(e) }));
  }

  function signedIn(account: Account) {
    succeeded = true;
    clearInterval(countdown);
    codeBlock.replaceChildren();
    setOutcome("signed_in", t("signin.success", { name: account.name }));
    closeBtn.textContent = t("common.done");
    closeBtn.focus();
    ctx.account = null;
    ctx.result("success", t("signin.success", { name: account.name }));
    void ctx.refreshOverview();
  }

  let lastArgs: [string | null, string | null] = [null, null];

  async function start(clientIdArg: string | null = lastArgs[0], tenantArg: string | null = lastArgs[1]) {
    lastArgs = [clientIdArg, tenantArg];
    const my = ++attempt;
    clearInterval(countdown);
    setOutcome(null);
    succeeded = false;
    closeBtn.textContent = t("common.cancel");
    codeBlock.replaceChildren(h("p", { class: "muted" }, t("signin.requesting")));
    let code: DeviceCode;
    try {
      code = await api.signInStart(clientIdArg, tenantArg);
    } catch (e) {
      if (my === attempt && !closed) failed(e);
      return;
    }
    if (my !== attempt || closed) return;
    renderCode(code);
    try {
      const account = await api.signInWait();
      if (my === attempt && !closed) signedIn(account);
    } catch (e) {
      if (my === attempt && !closed) failed(e);
    }
  }

  /** Drops the pending device flow (its result is then ignored). */
  async function dropFlow() {
    attempt++;
    clearInterval(countdown);
    await api.signInCancel().catch(() => undefined);
  }

  async function apply() {
    advancedError.textContent = "";
    await dropFlow();
    if (closed) return;
    void start(clientId.value.trim() || null, tenant.value.trim() || null);
  }

  async function signInApp(button: HTMLButtonElement) {
    const id = clientId.value.trim();
    const ten = tenant.value.trim();
    const sec = secret.value;
    if (!id || !ten || !sec) {
      advancedError.textContent = t("signin.app_missing");
      (!id ? clientId : !ten ? tenant : secret).focus();
      return;
    }
    advancedError.textContent = "";
    button.disabled = true;
    await dropFlow();
    const my = ++attempt;
    codeBlock.replaceChildren(h("p", { class: "muted" }, t("signin.app_signing_in")));
    setOutcome(null);
    try {
      const account = await api.signInApp(id, ten, sec);
      if (my === attempt && !closed) {
        secret.value = "";
        signedIn(account);
      }
    } catch (e) {
      if (my === attempt && !closed) {
        codeBlock.replaceChildren();
        setOutcome("error", t("signin.failed", { reason: errorText(e) }));
      }
    } finally {
      button.disabled = false;
    }
  }

  void start();
}
