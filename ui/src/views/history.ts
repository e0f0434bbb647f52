// History: the last runs, one row per source and run.
import { api, type RunRecord } from "../api";
import type { Ctx, View } from "../context";
import { h } from "../dom";
import { errorParts } from "../errors";
import { fmtBytes, fmtDateTime, fmtDuration, fmtRelative } from "../format";
import { hasKey, t } from "../i18n";

export function historyView(ctx: Ctx): View {
  void ctx;
  const el = h("section", { id: "view-history", class: "view", "aria-labelledby": "history-title" });
  const body = h("div", { class: "history" }, h("p", { class: "muted" }, t("common.loading")));
  let alive = true;
  el.append(h("h2", { id: "history-title", class: "view-title" }, t("history.title")), body);

  function render(runs: RunRecord[]) {
    if (!runs.length) {
      body.replaceChildren(h("p", { class: "muted" }, t("history.none")));
      return;
    }
    const tbody = h("tbody");
    for (const r of runs) {
      const outcomeKey = `outcome.${r.outcome}`;
      const ms = Date.parse(r.finished_at) - Date.parse(r.started_at);
      tbody.append(
        h(
          "tr",
          { class: "history-row", "data-outcome": r.outcome },
          h("td", null, h("time", { class: "history-when", datetime: r.started_at, title: fmtRelative(r.started_at) }, fmtDateTime(r.started_at, "short"))),
          h("td", null, r.source),
          h("td", null, h("span", { class: `outcome outcome-${r.outcome}` }, hasKey(outcomeKey) ? t(outcomeKey) : r.outcome)),
          h("td", { class: "num" }, Number.isFinite(ms) ? fmtDuration(ms) : t("common.empty")),
          h("td", { class: "num" }, r.bytes != null ? fmtBytes(r.bytes) : t("common.empty")),
          h("td", { class: "history-error" }, r.error ?? ""),
        ),
      );
    }
    body.replaceChildren(
      h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "history-title" },
        h("table", { class: "history-table" },
          h("thead", null,
            h("tr", null,
              h("th", { scope: "col" }, t("history.when")),
              h("th", { scope: "col" }, t("history.source")),
              h("th", { scope: "col" }, t("history.outcome")),
              h("th", { scope: "col", class: "num" }, t("history.duration")),
              h("th", { scope: "col", class: "num" }, t("history.size")),
              h("th", { scope: "col" }, t("history.error")),
            ),
          ),
          tbody,
        ),
      ),
    );
  }

  async function load() {
    try {
      const runs = await api.history(100);
      if (alive) render(runs);
    } catch (e) {
      if (!alive) return;
      const p = errorParts(e);
      body.replaceChildren(h("p", { class: "inline-error" }, `${p.headline} ${p.message}`));
    }
  }
  void load();

  return {
    el,
    onEvent(e) {
      if (e.event === "run_finished") void load();
    },
    destroy() {
      alive = false;
    },
  };
}
