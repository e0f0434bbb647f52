// The application shell: header (name, state badge, pause), navigation, the
// current view and the global result area; keeps the overview fresh from the
// engine's events (each state_changed carries the whole new overview) and
// every 30 s (relative times, the schedule).
import { api, onEngineEvent, type AppOverview, type EngineEvent, type RunProgress } from "./api";
import { VIEW_NAMES, type Ctx, type ResultKind, type View, type ViewName } from "./context";
import { h, keepFocus } from "./dom";
import { errorParts } from "./errors";
import { hasKey, resolveLang, setLang, t, type Key } from "./i18n";
import { historyView } from "./views/history";
import { destinationView } from "./views/destination";
import { overviewView } from "./views/overview";
import { restoreView } from "./views/restore";
import { settingsView } from "./views/settings";
import { closeSignInDialog, openSignInDialog } from "./views/signin";
import { sourcesView } from "./views/sources";

const VIEWS: Record<ViewName, (ctx: Ctx) => View> = {
  overview: overviewView,
  sources: sourcesView,
  destination: destinationView,
  restore: restoreView,
  history: historyView,
  settings: settingsView,
};

export interface AppOptions {
  /** How often the overview is fetched again (relative times, schedule). */
  refreshMs?: number;
  /** How long a success line stays in #result. */
  resultMs?: number;
}

export interface AppHandle {
  ctx: Ctx;
  /** Resolves once the first screen is drawn. */
  ready: Promise<void>;
  stop(): void;
}

export function startApp(root: HTMLElement, opts: AppOptions = {}): AppHandle {
  const refreshMs = opts.refreshMs ?? 30_000;
  const resultMs = opts.resultMs ?? 10_000;
  let view: View | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  let resultTimer: ReturnType<typeof setTimeout> | undefined;
  let unlisten: (() => void) | undefined;
  let readySent = false;

  // Persistent shell nodes (the live regions stay in the document).
  const badgeIcon = h("span", { class: "badge-icon", "aria-hidden": "true" });
  const badgeText = h("span", { class: "badge-text" });
  const badge = h("span", { id: "state-badge", class: "badge", role: "status", "data-state": "" }, badgeIcon, badgeText);
  const pauseBtn = h("button", { id: "pause-toggle", type: "button", class: "btn btn-secondary", onclick: () => void togglePause() });
  const appName = h("h1", { class: "app-name" });
  const header = h("header", { class: "app-header" }, appName, badge, h("span", { class: "spacer" }), pauseBtn);
  const navButtons = new Map<ViewName, HTMLButtonElement>();
  const nav = h("nav", { class: "app-nav" });
  for (const name of VIEW_NAMES) {
    const b = h("button", { id: `nav-${name}`, type: "button", class: "nav-btn", onclick: () => ctx.go(name) });
    navButtons.set(name, b);
    nav.append(b);
  }
  const resultText = h("div", { id: "result", class: "result", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const resultClose = h("button", { type: "button", class: "result-close", onclick: () => clearResult() }, "×");
  const toast = h("div", { class: "toast is-empty" }, resultText, resultClose);
  const main = h("main", { id: "main", class: "app-main", tabindex: "-1" });
  const column = h("div", { class: "app-column" }, toast, main);
  const layout = h("div", { class: "app-layout" }, nav, column);

  const ctx: Ctx = {
    overview: null,
    overviewError: null,
    settings: null,
    progress: new Map<string, RunProgress>(),
    account: null,
    view: "overview",
    go(name: ViewName) {
      view?.destroy?.();
      ctx.view = name;
      view = VIEWS[name](ctx);
      main.replaceChildren(view.el);
      for (const [n, b] of navButtons) {
        if (n === name) b.setAttribute("aria-current", "page");
        else b.removeAttribute("aria-current");
      }
      if (name === "overview" && ctx.overview && !readySent) sendReady();
    },
    refreshOverview,
    result: showResult,
    error(e: unknown) {
      const p = errorParts(e);
      showResult("error", p.message ? `${p.headline} ${p.message}` : p.headline, p.code);
    },
    openSignIn() {
      openSignInDialog(ctx);
    },
    async setLanguage(language: string | null) {
      await api.setLanguage(language);
      if (ctx.settings) ctx.settings.language = language;
      applyLanguage();
      keepFocus(document.body, () => {
        renderChrome();
        ctx.go(ctx.view);
      });
    },
  };

  function applyLanguage() {
    setLang(resolveLang(ctx.settings?.language, ctx.settings?.system_language, navigator.language));
  }

  function sendReady() {
    readySent = true;
    api.uiReady().catch(() => undefined);
  }

  function showResult(kind: ResultKind, text: string, code?: string) {
    clearTimeout(resultTimer);
    resultText.dataset.kind = kind;
    if (code) resultText.dataset.code = code;
    else delete resultText.dataset.code;
    resultText.textContent = text;
    toast.className = `toast toast-${kind}`;
    if (kind !== "error" && resultMs > 0) resultTimer = setTimeout(clearResult, resultMs);
  }

  function clearResult() {
    clearTimeout(resultTimer);
    resultText.textContent = "";
    delete resultText.dataset.kind;
    delete resultText.dataset.code;
    toast.className = "toast is-empty";
  }

  function renderChrome() {
    appName.textContent = t("app.name");
    nav.setAttribute("aria-label", t("nav.label"));
    for (const [n, b] of navButtons) b.textContent = t(`nav.${n}` as Key);
    resultClose.setAttribute("aria-label", t("common.dismiss"));
    resultClose.title = t("common.dismiss");
    updateHeader();
  }

  function updateHeader() {
    const o = ctx.overview;
    const state = o?.state ?? "";
    badge.dataset.state = state;
    const key = `state.${state}`;
    const name = state && hasKey(key) ? t(key) : t("common.loading");
    // Rewrite the live region only when it changes, so it is announced once.
    if (badgeText.textContent !== name) badgeText.textContent = name;
    pauseBtn.disabled = !o;
    pauseBtn.textContent = o?.paused ? t("header.resume") : t("header.pause");
    pauseBtn.dataset.paused = o?.paused ? "true" : "false";
  }

  async function togglePause() {
    const paused = ctx.overview?.paused;
    pauseBtn.disabled = true;
    try {
      if (paused) await api.resume();
      else await api.pause();
      showResult("info", paused ? t("header.resumed") : t("header.paused"));
    } catch (e) {
      ctx.error(e);
    } finally {
      await refreshOverview();
    }
  }

  function syncProgress() {
    const running = ctx.overview?.running ?? [];
    const names = new Set(running.map((p) => p.source));
    for (const name of [...ctx.progress.keys()]) if (!names.has(name)) ctx.progress.delete(name);
    for (const p of running) {
      const prev = ctx.progress.get(p.source);
      ctx.progress.set(p.source, {
        source: p.source,
        table: p.table ?? prev?.table ?? null,
        rows: Math.max(p.rows, prev?.table === p.table ? (prev?.rows ?? 0) : 0),
        bytes: p.bytes ?? prev?.bytes ?? null,
        total: p.total ?? prev?.total ?? null,
        bytes_per_sec: p.bytes_per_sec ?? prev?.bytes_per_sec ?? null,
        eta_secs: p.eta_secs ?? prev?.eta_secs ?? null,
      });
    }
  }

  /** Counts the overviews received from events: a fetch that was under way meanwhile may be older. */
  let pushed = 0;

  /** A state_changed event's overview: used as is, with what only a fetch knows kept. */
  function applyPushed(o: AppOverview) {
    pushed++;
    ctx.overview = o;
    ctx.overviewError = null;
    syncProgress();
    updateHeader();
    view?.onOverview?.();
  }

  let inflight: Promise<void> | null = null;
  let again = false;
  function refreshOverview(): Promise<void> {
    if (inflight) {
      again = true;
      return inflight;
    }
    inflight = (async () => {
      do {
        again = false;
        const seen = pushed;
        try {
          const o = await api.overview();
          // An event's overview arrived while this one was on its way: keep the event's.
          if (seen === pushed) {
            ctx.overview = o;
            ctx.overviewError = null;
            syncProgress();
          }
        } catch (e) {
          if (seen === pushed) ctx.overviewError = e;
        }
        if (stopped) return;
        updateHeader();
        view?.onOverview?.();
      } while (again);
    })().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  function progressOf(source: string): RunProgress {
    let p = ctx.progress.get(source);
    if (!p) {
      p = { source, table: null, rows: 0, bytes: null, total: null, bytes_per_sec: null, eta_secs: null };
      ctx.progress.set(source, p);
    }
    return p;
  }

  function onEvent(e: EngineEvent) {
    if (stopped) return;
    switch (e.event) {
      case "state_changed":
        // The event carries the whole overview: no need to fetch it. The
        // tray's availability is the shell's, not the engine's: kept.
        applyPushed({ ...e.overview, tray_available: ctx.overview?.tray_available ?? true });
        break;
      case "source_started":
        ctx.progress.set(e.source, { source: e.source, table: null, rows: 0, bytes: null, total: null, bytes_per_sec: null, eta_secs: null });
        break;
      case "snapshot_progress": {
        const p = progressOf(e.source);
        p.table = e.table;
        p.rows = e.rows;
        break;
      }
      case "upload_progress": {
        const p = progressOf(e.source);
        p.bytes = e.bytes;
        p.total = e.total;
        p.bytes_per_sec = e.bytes_per_sec > 0 ? e.bytes_per_sec : null;
        p.eta_secs = e.eta_secs;
        break;
      }
      // The service sends a state_changed (with the new overview) after each.
      case "source_finished":
        ctx.progress.delete(e.outcome.source);
        break;
      case "run_finished":
        ctx.progress.clear();
        break;
      default:
        break;
    }
    view?.onEvent?.(e);
  }

  const ready = (async () => {
    const [s, o] = await Promise.allSettled([api.settings(), api.overview()]);
    if (s.status === "fulfilled") ctx.settings = s.value;
    if (o.status === "fulfilled") {
      ctx.overview = o.value;
      syncProgress();
    } else {
      ctx.overviewError = o.reason;
    }
    if (stopped) return;
    applyLanguage();
    root.replaceChildren(header, layout);
    renderChrome();
    ctx.go("overview");
    if (!readySent) sendReady();
    timer = setInterval(() => void refreshOverview(), refreshMs);
    try {
      const un = await onEngineEvent(onEvent);
      if (stopped) un();
      else unlisten = un;
    } catch {
      // No event stream (e.g. outside the app): the 30 s refresh still runs.
    }
  })();

  return {
    ctx,
    ready,
    stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(resultTimer);
      view?.destroy?.();
      unlisten?.();
      closeSignInDialog(false);
    },
  };
}
