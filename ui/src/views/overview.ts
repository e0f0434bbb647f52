// Overview: account, destination, the current problem with its one action,
// each source's last verified backup and live progress, next run, back up now.
import { api, type Account, type Action, type Overview, type SourceStatus } from "../api";
import type { Ctx, View } from "../context";
import { h, keepFocus } from "../dom";
import { errorParts, headline } from "../errors";
import { fmtBytes, fmtCounts, fmtNextRun, fmtNumber, fmtRelative } from "../format";
import { t, tp, type Key } from "../i18n";

const ACTION_KEYS: Record<Action, Key | null> = {
  sign_in: "action.sign_in",
  retry: "action.retry",
  choose_folder: "action.choose_folder",
  add_source: "action.add_source",
  check_source: "action.check_source",
  free_space: null,
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
      if (o.problem) el.append(problemBlock(o));
      el.append(
        h("div", { class: "panels" }, accountPanel(o), destinationPanel(o)),
        schedulePanel(o),
      );
      if (!o.tray_available) el.append(h("p", { id: "no-tray", class: "note" }, t("overview.no_tray")));
      el.append(sourcesBlock(o));
    });
  }

  function problemBlock(o: Overview): HTMLElement {
    const p = o.problem!;
    const box = h(
      "div",
      { id: "problem", class: "problem", "data-code": p.code, "aria-labelledby": "problem-title" },
      h("h3", { id: "problem-title", class: "problem-title" }, headline(p.code)),
      h("p", { class: "problem-detail" }, p.message),
      p.source ? h("p", { class: "problem-source" }, t("overview.problem_source", { source: p.source })) : null,
    );
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
      case "free_space":
        return;
    }
  }

  function accountPanel(o: Overview): HTMLElement {
    const panel = h("div", { class: "panel", "aria-labelledby": "account-title" }, h("h3", { id: "account-title" }, t("account.title")));
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

  function destinationPanel(o: Overview): HTMLElement {
    const d = o.destination;
    return h(
      "div",
      { class: "panel", "aria-labelledby": "dest-title" },
      h("h3", { id: "dest-title" }, t("dest.title")),
      h(
        "p",
        { id: "dest-summary", "data-kind": d?.kind ?? "none" },
        d ? t(d.kind === "onedrive" ? "dest.summary_onedrive" : "dest.summary_folder", { label: d.label }) : t("dest.none"),
      ),
      h("button", { id: "dest-change", type: "button", class: "btn btn-secondary", onclick: () => ctx.go("destination") }, d ? t("dest.change") : t("dest.choose")),
    );
  }

  function schedulePanel(o: Overview): HTMLElement {
    let next: string;
    if (o.schedule === "off") next = t("overview.schedule_off");
    else if (o.paused) next = t("overview.next_paused");
    else if (o.next_run) next = fmtNextRun(o.next_run);
    else next = t("overview.next_unknown");
    const running = o.state === "backing_up" || (o.running?.length ?? 0) > 0;
    return h(
      "div",
      { class: "panel panel-row" },
      h(
        "div",
        { class: "grow" },
        h("p", { id: "next-run" }, next),
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

  function sourcesBlock(o: Overview): HTMLElement {
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
          ? t("card.last_verified", { line: t("card.line", { when: fmtRelative(last.created_at), counts: fmtCounts(last.tables, last.rows, last.size_bytes) }) })
          : t("card.never"),
      ),
    );
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
      lines.push(bar, h("p", { class: "progress-upload" }, t("progress.upload", { done: fmtBytes(p.bytes), total: fmtBytes(p.total) })));
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
        case "progress":
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
