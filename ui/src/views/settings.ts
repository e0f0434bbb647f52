// Settings: schedule, notifications, start at login, language, alerts.
import { api, type Settings } from "../api";
import type { Ctx, View } from "../context";
import { busy, h } from "../dom";
import { errorParts } from "../errors";
import { t, type Key } from "../i18n";
import { alertsPanel } from "./alerts";

export type ScheduleForm = { mode: "off" } | { mode: "every"; minutes: string } | { mode: "daily"; time: string };

/** "every:15" / "daily:07:30" / "off", or the key of the validation error. */
export function scheduleString(f: ScheduleForm): { ok: true; value: string } | { ok: false; error: Key } {
  if (f.mode === "off") return { ok: true, value: "off" };
  if (f.mode === "every") {
    const s = f.minutes.trim();
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 1440) return { ok: false, error: "settings.minutes_invalid" };
    return { ok: true, value: `every:${n}` };
  }
  const m = /^([01]\d|2[0-3]):([0-5]\d)(:[0-5]\d(\.\d+)?)?$/.exec(f.time.trim());
  if (!m) return { ok: false, error: "settings.time_invalid" };
  return { ok: true, value: `daily:${m[1]}:${m[2]}` };
}

/** The other way: "every:15" → every, 15. */
export function parseSchedule(s: string): ScheduleForm {
  const every = /^every:(\d+)$/.exec(s);
  if (every) return { mode: "every", minutes: every[1] };
  const daily = /^daily:(\d{1,2}):(\d{2})$/.exec(s);
  if (daily) return { mode: "daily", time: `${daily[1].padStart(2, "0")}:${daily[2]}` };
  return { mode: "off" };
}

export function settingsView(ctx: Ctx): View {
  const el = h("section", { id: "view-settings", class: "view", "aria-labelledby": "settings-title" });
  let alive = true;
  el.append(h("h2", { id: "settings-title", class: "view-title" }, t("settings.title")));
  const body = h("div", { class: "settings" }, h("p", { class: "muted" }, t("common.loading")));
  el.append(body);

  function render(s: Settings) {
    const current = parseSchedule(s.schedule);
    const off = h("input", { id: "schedule-off", type: "radio", name: "schedule", value: "off", checked: current.mode === "off" });
    const every = h("input", { id: "schedule-every", type: "radio", name: "schedule", value: "every", checked: current.mode === "every" });
    const daily = h("input", { id: "schedule-daily", type: "radio", name: "schedule", value: "daily", checked: current.mode === "daily" });
    const minutes = h("input", { id: "schedule-minutes", type: "number", class: "input input-num", min: "1", max: "1440", step: "1", inputmode: "numeric", value: current.mode === "every" ? current.minutes : "60", "aria-describedby": "schedule-error" });
    const time = h("input", { id: "schedule-time", type: "time", class: "input", value: current.mode === "daily" ? current.time : "07:30", "aria-describedby": "schedule-error" });
    const error = h("p", { id: "schedule-error", class: "field-error", "aria-live": "polite" });
    const save = h("button", { id: "schedule-save", type: "submit", class: "btn" }, t("common.save"));
    minutes.addEventListener("focus", () => (every.checked = true));
    minutes.addEventListener("input", () => (every.checked = true));
    time.addEventListener("focus", () => (daily.checked = true));
    time.addEventListener("input", () => (daily.checked = true));

    const form = h(
      "form",
      { id: "schedule-form", class: "panel", novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void saveSchedule(); } },
      h("fieldset", null,
        h("legend", null, t("settings.schedule")),
        h("div", { class: "check-row" }, off, h("label", { for: "schedule-off" }, t("settings.schedule_off"))),
        h("div", { class: "check-row" }, every, h("label", { for: "schedule-every" }, t("settings.schedule_every")),
          h("label", { for: "schedule-minutes", class: "visually-hidden" }, t("settings.minutes_label")), minutes,
          h("span", { "aria-hidden": "true" }, t("settings.minutes_unit"))),
        h("div", { class: "check-row" }, daily, h("label", { for: "schedule-daily" }, t("settings.schedule_daily")),
          h("label", { for: "schedule-time", class: "visually-hidden" }, t("settings.time_label")), time),
        error,
      ),
      h("div", { class: "actions" }, save),
    );

    async function saveSchedule() {
      const mode = every.checked ? "every" : daily.checked ? "daily" : "off";
      const r = scheduleString(mode === "every" ? { mode, minutes: minutes.value } : mode === "daily" ? { mode, time: time.value } : { mode });
      minutes.removeAttribute("aria-invalid");
      time.removeAttribute("aria-invalid");
      if (!r.ok) {
        error.textContent = t(r.error);
        const bad = mode === "every" ? minutes : time;
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
        return;
      }
      error.textContent = "";
      await busy(save, async () => {
        try {
          await api.setSchedule(r.value);
          s.schedule = r.value;
          ctx.result("success", t("settings.schedule_saved"));
          await ctx.refreshOverview();
        } catch (e) {
          const p = errorParts(e);
          error.textContent = `${p.headline} ${p.message}`;
        }
      });
    }

    const notifications = h("input", { id: "notifications", type: "checkbox", checked: s.notifications });
    notifications.addEventListener("change", () => void toggle(notifications, (on) => api.setNotifications(on), (on) => (s.notifications = on), on => on ? t("settings.notifications_on") : t("settings.notifications_off")));
    const autostart = h("input", { id: "autostart", type: "checkbox", checked: s.autostart });
    autostart.addEventListener("change", () => void toggle(autostart, (on) => api.setAutostart(on), (on) => (s.autostart = on), on => on ? t("settings.autostart_on") : t("settings.autostart_off")));

    const language = h(
      "select",
      { id: "language", class: "input", value: s.language ?? "" },
      h("option", { value: "" }, t("settings.language_system")),
      h("option", { value: "en", lang: "en" }, t("settings.lang_en")),
      h("option", { value: "fr", lang: "fr" }, t("settings.lang_fr")),
      h("option", { value: "pt", lang: "pt" }, t("settings.lang_pt")),
    );
    language.addEventListener("change", () => {
      const v = language.value || null;
      ctx.setLanguage(v).catch((e: unknown) => {
        language.value = s.language ?? "";
        ctx.error(e);
      });
    });

    // Restore drills: every N days, or off.
    const drillsOn = h("input", { id: "drills-on", type: "checkbox", checked: s.verify_every !== null }) as HTMLInputElement;
    const drillDays = h("input", { id: "drill-days", type: "number", class: "input input-num", min: "1", max: "365", step: "1", inputmode: "numeric", value: String(s.verify_every ?? 7), disabled: s.verify_every === null, "aria-describedby": "drill-error" }) as HTMLInputElement;
    const drillError = h("p", { id: "drill-error", class: "field-error", "aria-live": "polite" });
    const drillSave = h("button", { id: "drill-save", type: "submit", class: "btn" }, t("common.save")) as HTMLButtonElement;
    drillsOn.addEventListener("change", () => (drillDays.disabled = !drillsOn.checked));
    const drillForm = h(
      "form",
      { id: "drill-form", class: "panel", novalidate: true, onsubmit: (ev: SubmitEvent) => {
        ev.preventDefault();
        const n = Number(drillDays.value.trim());
        if (drillsOn.checked && (!/^\d+$/.test(drillDays.value.trim()) || n < 1 || n > 365)) {
          drillError.textContent = t("settings.drill_days_invalid");
          drillDays.setAttribute("aria-invalid", "true");
          return;
        }
        drillError.textContent = "";
        drillDays.removeAttribute("aria-invalid");
        const days = drillsOn.checked ? n : null;
        void busy(drillSave, async () => {
          try {
            await api.setVerifyEvery(days);
            s.verify_every = days;
            ctx.result("success", t("settings.drills_saved"));
            await ctx.refreshOverview();
          } catch (e) {
            const p = errorParts(e);
            drillError.textContent = `${p.headline} ${p.message}`;
          }
        });
      } },
      h("fieldset", null,
        h("legend", null, t("settings.drills")),
        h("p", { class: "muted" }, t("settings.drills_intro")),
        h("div", { class: "check-row" }, drillsOn, h("label", { for: "drills-on" }, t("settings.drills_on")),
          h("label", { for: "drill-days", class: "visually-hidden" }, t("settings.drill_days_label")), drillDays,
          h("span", { "aria-hidden": "true" }, t("settings.drill_days_unit"))),
        drillError,
      ),
      h("div", { class: "actions" }, drillSave),
    );

    body.replaceChildren(
      form,
      drillForm,
      h("div", { class: "panel" },
        h("h3", null, t("settings.general")),
        h("div", { class: "check-row" }, notifications, h("label", { for: "notifications" }, t("settings.notifications"))),
        h("div", { class: "check-row" }, autostart, h("label", { for: "autostart" }, t("settings.autostart"))),
        h("div", { class: "field field-inline" }, h("label", { for: "language" }, t("settings.language")), language),
      ),
      alertsPanel(ctx),
    );
  }

  async function toggle(box: HTMLInputElement, call: (on: boolean) => Promise<void>, store: (on: boolean) => void, said: (on: boolean) => string) {
    const on = box.checked;
    box.disabled = true;
    try {
      await call(on);
      store(on);
      ctx.result("success", said(on));
    } catch (e) {
      box.checked = !on;
      ctx.error(e);
    } finally {
      box.disabled = false;
    }
  }

  // Draw at once from what the app has; fetch again, and redraw only if the
  // settings changed meanwhile and the person has not started editing.
  let touched = false;
  body.addEventListener("input", () => (touched = true));
  body.addEventListener("change", () => (touched = true));

  async function load() {
    const had = ctx.settings;
    try {
      const s = await api.settings();
      if (!alive) return;
      if (!had) {
        ctx.settings = s;
        render(s);
      } else if (!touched && JSON.stringify(s) !== JSON.stringify(had)) {
        ctx.settings = s;
        render(s);
      }
    } catch (e) {
      if (!alive || had) return;
      const p = errorParts(e);
      body.replaceChildren(h("p", { class: "inline-error" }, `${p.headline} ${p.message}`));
    }
  }

  if (ctx.settings) render(ctx.settings);
  void load();

  return {
    el,
    destroy() {
      alive = false;
    },
  };
}
