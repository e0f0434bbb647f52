// Overview: on a first start, the setup checklist; then the current problem
// with its one action, account, destination, each source's last verified
// backup and live progress, next run, back up now.
import { api, type Account, type Action, type AppOverview, type SetupSteps, type SourceStatus } from "../api";
import type { Ctx, View } from "../context";
import { h, keepFocus } from "../dom";
import { errorParts, headline } from "../errors";
import { fmtBytes, fmtCounts, fmtDuration, fmtNextRun, fmtNumber, fmtRelative } from "../format";
import { t, tp, type Key } from "../i18n";
import { summaryKey } from "./destination";

const ACTION_KEYS: Record<Action, Key | null> = {
  sign_in: "action.sign_in",
  unlock_keychain: "action.unlock_keychain",
  retry: "action.retry",
  choose_folder: "action.choose_folder",
  add_source: "action.add_source",
  check_source: "action.check_source",
  free_space: null,
  check_clock: null,
  resume: "action.resume",
};

const DRIVE_KEYS: Record<string, Key> = {
  personal: "drive.personal",
  business: "drive.business",
  documentlibrary: "drive.documentlibrary",
  other: "drive.unknown",
};

export function overviewView(ctx: Ctx): View {
  const el = h("section", { id: "view-overview", class: "view", "aria-labelledby": "overview-title" });

  function render() {
    keepFocus(el, () => {
      el.replaceChildren(h("h2", { id: "overview-title", class: "view-title" }, t("overview.title")));
      const o = ctx.overview;
      if (!o) {
        if (ctx.overviewError) {
          const p = errorParts(ctx.overviewError);
          el.append(
            h("p", { class: "inline-error", role: "alert" }, `${p.headline} ${p.message}`),
            h("button", { id: "overview-retry", type: "button", class: "btn", onclick: () => void ctx.refreshOverview() }, t("common.try_again")),
          );
        } else {
          el.append(h("p", { class: "muted" }, t("common.loading")));
        }
        return;
      }
      // Nothing set up yet: not a problem to alarm about, steps to walk through.
      const setup = setupOf(o);
      if (setup) el.append(setupBlock(o, setup));
      else if (o.problem) el.append(problemBlock(o));
      // While the destination is a setup step to do, the checklist offers it.
      el.append(h("div", { class: "panels" }, accountPanel(o), setup && !setup.destination ? null : destinationPanel(o)));
      // With nothing to back up there is no next run and nothing to start.
      if (o.sources.length > 0) el.append(schedulePanel(o));
      if (!o.tray_available) el.append(h("p", { id: "no-tray", class: "note" }, t("overview.no_tray")));
      if (!setup || o.sources.length > 0) el.append(sourcesBlock(o));
    });
  }

  /** The setup steps while nothing is set up (state not_set_up). */
  function setupOf(o: AppOverview): SetupSteps | null {
    if (o.setup) return o.setup;
    if (o.state !== "not_set_up") return null;
    return { source: o.sources.length > 0, destination: o.destination !== null, signed_in: null };
  }

  function setupBlock(o: AppOverview, s: SetupSteps): HTMLElement {
    type Step = { name: "source" | "destination" | "signed_in"; done: boolean; label: Key; help: string; doneText: string; button: HTMLButtonElement };
    const d = o.destination;
    const steps: Step[] = [
      {
        name: "source",
        done: s.source,
        label: "setup.source",
        help: t("setup.source_help"),
        doneText: t("setup.source_done", { names: o.sources.map((x) => x.name).join(", ") }),
        button: h("button", { id: "setup-add-source", type: "button", class: "btn", onclick: () => ctx.go("sources") }, t("action.add_source")),
      },
      {
        name: "destination",
        done: s.destination,
        label: "setup.destination",
        help: t("setup.destination_help"),
        doneText: d ? t(summaryKey(d.kind), { label: d.label }) : "",
        button: h("button", { id: "setup-choose-destination", type: "button", class: "btn", onclick: () => ctx.go("destination") }, t("dest.choose")),
      },
    ];
    // Only a OneDrive destination needs a Microsoft sign-in.
    if (s.signed_in !== null) {
      steps.push({
        name: "signed_in",
        done: s.signed_in,
        label: "setup.sign_in",
        help: t("setup.sign_in_help"),
        doneText: o.signed_in ? t("account.signed_in_as", { name: o.signed_in }) : "",
        button: h("button", { id: "setup-sign-in", type: "button", class: "btn", onclick: () => ctx.openSignIn() }, t("account.sign_in")),
      });
    }
    const next = steps.find((x) => !x.done);
    const list = h("ol", { class: "setup-steps" });
    for (const step of steps) {
      const current = step === next;
      if (!current) step.button.classList.add("btn-secondary");
      list.append(
        h(
          "li",
          { class: "setup-step", "data-step": step.name, "data-done": String(step.done), "aria-current": current ? "step" : null },
          h("span", { class: "setup-mark", "aria-hidden": "true" }),
          h(
            "div",
            { class: "grow" },
            h("p", { class: "setup-label" }, t(step.label)),
            step.done
              ? h("p", { class: "setup-detail muted" }, h("span", { class: "setup-done" }, t("setup.done")), step.doneText ? ` · ${step.doneText}` : "")
              : h("p", { class: "setup-detail muted" }, step.help),
          ),
          step.done ? null : step.button,
        ),
      );
    }
    return h(
      "section",
      { id: "setup", class: "setup", "data-next": next?.name ?? "", "aria-labelledby": "setup-title" },
      h("h3", { id: "setup-title", class: "setup-title" }, t("setup.title")),
      h("p", { class: "muted" }, t("setup.intro")),
      list,
    );
  }

  function problemBlock(o: AppOverview): HTMLElement {
    const p = o.problem!;
    const box = h(
      "div",
      { id: "problem", class: "problem", "data-code": p.code, "aria-labelledby": "problem-title" },
      h("h3", { id: "problem-title", class: "problem-title" }, headline(p.code)),
      h("p", { class: "problem-detail" }, p.message),
      p.source ? h("p", { class: "problem-source" }, t("overview.problem_source", { source: p.source })) : null,
    );
    if (p.action === "unlock_keychain") {
      // Signing in cannot help: say what does.
      box.append(
        h(
          "div",
          { id: "problem-help", class: "problem-help" },
          h("p", null, t("keychain.why")),
          h("ul", null, h("li", null, t("keychain.unlock")), h("li", null, t("keychain.install"))),
          h("p", null, t("keychain.then")),
        ),
      );
    }
    const key = ACTION_KEYS[p.action];
    if (key) {
      box.append(
        h(
          "button",
          { id: "problem-action", type: "button", class: "btn", "data-action": p.action, onclick: (ev: MouseEvent) => void runAction(p.action, ev.currentTarget as HTMLButtonElement) },
          t(key),
        ),
      );
    }
    return box;
  }

  /** Disables the button, runs the call, says `doneKey` (or the error), refreshes. */
  async function runThenRefresh(button: HTMLButtonElement, call: () => Promise<void>, doneKey: Key) {
    button.disabled = true;
    try {
      await call();
      ctx.result("info", t(doneKey));
    } catch (e) {
      ctx.error(e);
    }
    await ctx.refreshOverview();
  }

  async function runAction(action: Action, button: HTMLButtonElement) {
    switch (action) {
      case "sign_in":
        ctx.openSignIn();
        return;
      case "choose_folder":
        ctx.go("destination");
        return;
      case "add_source":
      case "check_source":
        ctx.go("sources");
        return;
      case "retry":
        await runThenRefresh(button, api.backUpNow, "overview.backup_started");
        return;
      case "resume":
        await runThenRefresh(button, api.resume, "header.resumed");
        return;
      case "unlock_keychain":
        await recheckKeychain(button);
        return;
      case "free_space":
      case "check_clock":
        return;
    }
  }

  /** The keychain may have been unlocked meanwhile: fetch the overview again and say how it went. */
  async function recheckKeychain(button: HTMLButtonElement) {
    button.disabled = true;
    await ctx.refreshOverview();
    if (ctx.overview?.problem?.action === "unlock_keychain") {
      ctx.result("info", t("keychain.still_locked"));
      const again = el.querySelector<HTMLButtonElement>("#problem-action");
      again?.focus();
    } else if (!ctx.overviewError) {
      ctx.result("success", t("keychain.unlocked"));
    }
    if (button.isConnected) button.disabled = false;
  }

  function accountPanel(o: AppOverview): HTMLElement {
    const panel = h("div", { class: "panel", "aria-labelledby": "account-title" }, h("h3", { id: "account-title" }, t("account.title")));
    if (o.problem?.action === "unlock_keychain") {
      // Who is signed in is in the keychain: unknown, and signing in cannot help.
      ctx.account = null;
      panel.append(h("p", { id: "account-name" }, t("account.keychain_locked")));
      return panel;
    }
    if (!o.signed_in) {
      ctx.account = null;
      panel.append(
        h("p", { id: "account-name" }, t("account.not_signed_in")),
        h("button", { id: "sign-in", type: "button", class: "btn", onclick: () => ctx.openSignIn() }, t("account.sign_in")),
      );
      return panel;
    }
    const details = h("p", { id: "account-details", class: "account-details", "aria-live": "polite" });
    panel.append(
      h("p", { id: "account-name", class: "account-name" }, t("account.signed_in_as", { name: o.signed_in })),
      details,
      h("button", { id: "sign-out", type: "button", class: "btn btn-secondary", onclick: (ev: MouseEvent) => void signOut(ev.currentTarget as HTMLButtonElement) }, t("account.sign_out")),
    );
    if (!ctx.account || ctx.account.for !== o.signed_in) loadAccount(o.signed_in);
    fillAccount(details);
    return panel;
  }

  function loadAccount(name: string) {
    ctx.account = { for: name, status: "loading" };
    api.account().then(
      (account) => {
        if (ctx.account?.for === name) ctx.account = { for: name, status: "ok", account };
      },
      (error: unknown) => {
        if (ctx.account?.for === name) ctx.account = { for: name, status: "error", error };
      },
    ).finally(() => {
      const details = el.querySelector<HTMLElement>("#account-details");
      if (details) fillAccount(details);
    });
  }

  function fillAccount(details: HTMLElement) {
    const a = ctx.account;
    details.classList.remove("inline-error");
    if (!a || a.status === "loading") {
      details.textContent = t("account.loading");
    } else if (a.status === "error") {
      const p = errorParts(a.error);
      details.classList.add("inline-error");
      details.textContent = t("account.details_failed", { reason: `${p.headline} ${p.message}`.trim() });
    } else {
      details.textContent = accountLine(a.account);
    }
  }

  function accountLine(a: Account): string {
    const parts: string[] = [];
    if (a.kind === "app") parts.push(t("account.kind_app"));
    if (a.drive_type) {
      const key = DRIVE_KEYS[a.drive_type.toLowerCase()];
      parts.push(key ? t(key) : a.drive_type);
    }
    if (a.quota_used != null && a.quota_total != null) {
      parts.push(t("account.quota", { used: fmtBytes(a.quota_used), total: fmtBytes(a.quota_total) }));
    } else if (a.quota_used != null) {
      parts.push(t("account.quota_used", { used: fmtBytes(a.quota_used) }));
    }
    return parts.length ? parts.join(" · ") : t("account.no_details");
  }

  async function signOut(button: HTMLButtonElement) {
    button.disabled = true;
    try {
      await api.signOut();
      ctx.account = null;
      ctx.result("success", t("account.signed_out"));
    } catch (e) {
      ctx.error(e);
      button.disabled = false;
    }
    await ctx.refreshOverview();
  }

  function destinationPanel(o: AppOverview): HTMLElement {
    const d = o.destination;
    return h(
      "div",
      { class: "panel", "aria-labelledby": "dest-title" },
      h("h3", { id: "dest-title" }, t("dest.title")),
      h(
        "p",
        { id: "dest-summary", "data-kind": d?.kind ?? "none" },
        d ? t(summaryKey(d.kind), { label: d.label }) : t("dest.none"),
      ),
      h("button", { id: "dest-change", type: "button", class: "btn btn-secondary", onclick: () => ctx.go("destination") }, d ? t("dest.change") : t("dest.choose")),
    );
  }

  function schedulePanel(o: AppOverview): HTMLElement {
    // No next_run: nothing is planned, so no "Next backup" line.
    let next: string | null = null;
    if (o.schedule === "off") next = t("overview.schedule_off");
    else if (o.paused) next = t("overview.next_paused");
    else if (o.next_run) next = fmtNextRun(o.next_run);
    const running = o.state === "backing_up" || (o.running?.length ?? 0) > 0;
    return h(
      "div",
      { class: "panel panel-row" },
      h(
        "div",
        { class: "grow" },
        next ? h("p", { id: "next-run" }, next) : null,
        h(
          "p",
          { id: "last-verified", class: "muted" },
          o.last_verified_at ? t("overview.last_verified", { when: fmtRelative(o.last_verified_at) }) : t("overview.never_verified"),
        ),
      ),
      h(
        "button",
        { id: "back-up-now", type: "button", class: "btn", disabled: running, onclick: (ev: MouseEvent) => void backUpNow(ev.currentTarget as HTMLButtonElement) },
        running ? t("overview.backing_up") : t("overview.back_up_now"),
      ),
    );
  }

  async function backUpNow(button: HTMLButtonElement) {
    button.disabled = true;
    try {
      await api.backUpNow();
      ctx.result("info", t("overview.backup_started"));
    } catch (e) {
      ctx.error(e);
      button.disabled = false;
    }
    await ctx.refreshOverview();
  }

  function sourcesBlock(o: AppOverview): HTMLElement {
    const block = h("div", { class: "sources", "aria-labelledby": "sources-title" }, h("h3", { id: "sources-title" }, t("overview.sources")));
    if (o.sources.length === 0) {
      block.append(
        h("p", { class: "muted" }, t("overview.no_sources")),
        h("button", { id: "overview-add-source", type: "button", class: "btn btn-secondary", onclick: () => ctx.go("sources") }, t("action.add_source")),
      );
      return block;
    }
    const list = h("div", { class: "cards" });
    for (const s of o.sources) list.append(sourceCard(s));
    block.append(list);
    return block;
  }

  function sourceCard(s: SourceStatus): HTMLElement {
    const last = s.last_verified;
    const card = h(
      "article",
      { class: "source-card", "data-name": s.name },
      h("h4", { class: "source-name" }, s.name),
      h("p", { class: "source-path" }, s.path),
      h(
        "p",
        { class: "source-last" },
        last
          ? t("card.last_verified", { line: t("card.line", { when: fmtRelative(last.created_at), counts: s.kind === "folder" ? `${tp("count.files", last.tables)} · ${fmtBytes(last.rows)}` : fmtCounts(last.tables, last.rows, last.size_bytes) }) })
          : t("card.never"),
      ),
    );
    if (s.last_proven) {
      const key = s.last_proven.place === "local" ? "card.proven_local" : "card.proven_destination";
      card.append(h("p", { class: "source-proven" }, t(key, { when: fmtRelative(s.last_proven.at) })));
    }
    if (s.uploads_pending > 0) card.append(h("p", { class: "source-pending" }, tp("card.pending", s.uploads_pending)));
    if (s.upload_error) {
      card.append(h("p", { class: "source-error inline-error", "data-code": s.upload_error_code ?? "" }, `${headline(s.upload_error_code)} ${s.upload_error}`));
    }
    const progress = h("div", { class: "source-progress", hidden: true });
    card.append(progress);
    fillProgress(s.name, progress);
    return card;
  }

  function fillProgress(name: string, box: HTMLElement) {
    const p = ctx.progress.get(name);
    if (!p) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    const text = p.table
      ? t("progress.table", { table: p.table, rows: fmtNumber(p.rows) })
      : t("progress.starting");
    const lines: Node[] = [h("p", { class: "progress-text" }, text)];
    const bar = h("progress", { class: "upload-progress", "aria-label": t("progress.upload_label", { name }) });
    if (p.total != null && p.bytes != null && p.total > 0) {
      bar.max = p.total;
      bar.value = Math.min(p.bytes, p.total);
      const parts = [t("progress.upload", { done: fmtBytes(p.bytes), total: fmtBytes(p.total) })];
      if (p.bytes_per_sec != null) parts.push(t("progress.rate", { rate: fmtBytes(p.bytes_per_sec) }));
      if (p.eta_secs != null) parts.push(t("progress.left", { left: fmtDuration(p.eta_secs * 1000) }));
      lines.push(bar, h("p", { class: "progress-upload" }, parts.join(", ")));
    } else {
      lines.push(bar);
    }
    box.replaceChildren(...lines);
  }

  function updateProgress(source: string) {
    for (const card of el.querySelectorAll<HTMLElement>(".source-card")) {
      if (card.dataset.name !== source) continue;
      const box = card.querySelector<HTMLElement>(".source-progress");
      if (box) fillProgress(source, box);
    }
  }

  render();

  return {
    el,
    onOverview: render,
    onEvent(e) {
      switch (e.event) {
        case "snapshot_progress":
        case "upload_progress":
        case "source_started":
          updateProgress(e.source);
          if (e.event === "source_started") {
            const b = el.querySelector<HTMLButtonElement>("#back-up-now");
            if (b) b.disabled = true;
          }
          break;
        case "run_started": {
          const b = el.querySelector<HTMLButtonElement>("#back-up-now");
          if (b) b.disabled = true;
          break;
        }
        default:
          break;
      }
    },
  };
}
