// Restore points: filter, list (newest first), restore (preview, then into a
// new file or in place, its progress from the command's channel), export to
// JSON, and import of a JSON backup file.
import { api, type BackupSelector, type Preview, type RestorePoint, type RestoreReport } from "../api";
import { pathField } from "../components/path-field";
import type { Ctx, View } from "../context";
import { busy, h } from "../dom";
import { pickBackupFile, pickDatabaseSave, pickDirectory, pickJsonSave } from "../dialogs";
import { errorCode, errorParts } from "../errors";
import { fmtBytes, fmtDateTime, fmtNumber, isoDay } from "../format";
import { t, tp, type Key } from "../i18n";

export type PointStatus = "local" | "verified" | "pending" | "remote" | "both" | "missing";

/** Where a restore point is, as the person reads it. */
export function pointStatus(p: RestorePoint): PointStatus {
  if (p.location === "missing") return "missing";
  if (p.location === "remote") return "remote";
  if (p.upload === "verified") return "verified";
  if (p.upload === "pending") return "pending";
  if (p.location === "both") return "both";
  return "local";
}

const STATUS_KEYS: Record<PointStatus, Key> = {
  local: "point.local",
  verified: "point.verified",
  pending: "point.pending",
  remote: "point.remote",
  both: "point.both",
  missing: "point.missing",
};

/** "/data/shop.db" → "/data/shop-restored-2024-05-01.db". */
export function restoredPath(replaces: string, day: string): string {
  const slash = Math.max(replaces.lastIndexOf("/"), replaces.lastIndexOf("\\"));
  const dir = replaces.slice(0, slash + 1);
  const file = replaces.slice(slash + 1);
  const dot = file.lastIndexOf(".");
  const stem = dot > 0 ? file.slice(0, dot) : file;
  const ext = dot > 0 ? file.slice(dot) : ".db";
  return `${dir}${stem}-restored-${day}${ext}`;
}

export function restoreView(ctx: Ctx): View {
  const el = h("section", { id: "view-restore", class: "view", "aria-labelledby": "restore-title" });
  let alive = true;
  let loadSeq = 0;
  const filter = h("select", { id: "restore-filter", class: "input", onchange: () => void load() });
  const list = h("div", { id: "points", class: "points" });
  const panel = h("div", { id: "restore-panel" });

  let filterSig: string | null = null;
  function fillFilter() {
    const chosen = filter.value;
    const names = (ctx.overview?.sources ?? []).map((s) => s.name);
    if (names.join("\n") === filterSig) return;
    filterSig = names.join("\n");
    filter.replaceChildren(h("option", { value: "" }, t("restore.all_sources")), ...names.map((n) => h("option", { value: n }, n)));
    filter.value = names.includes(chosen) ? chosen : "";
  }

  async function load() {
    const my = ++loadSeq;
    try {
      const { points, unreachable } = await api.restorePoints(filter.value || null);
      if (my !== loadSeq || !alive) return;
      renderList(points);
      if (unreachable) {
        const p = errorParts(unreachable);
        list.prepend(h("p", { id: "points-partial", class: "inline-error", role: "status", "data-code": p.code }, t("restore.partial"), " ", p.message ? `${p.headline} ${p.message}` : p.headline));
      }
    } catch (e) {
      if (my !== loadSeq || !alive) return;
      const p = errorParts(e);
      list.replaceChildren(h("p", { class: "inline-error" }, `${p.headline} ${p.message}`));
    }
  }

  function renderList(points: RestorePoint[]) {
    const sorted = [...points].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
    list.replaceChildren();
    if (!sorted.length) {
      list.append(h("p", { class: "muted" }, t("restore.none")));
      return;
    }
    const ul = h("ul", { class: "point-list", "aria-label": t("restore.list_label") });
    for (const p of sorted) ul.append(pointRow(p));
    list.append(ul);
    if (focusKey) list.querySelector<HTMLElement>(`[data-focus-key="${focusKey.replace(/["\\]/g, "")}"]`)?.focus();
  }

  /** A database's tables and rows; a folder's files, their size and what changed. */
  function pointDetails(p: RestorePoint): string {
    const kind = ctx.overview?.sources.find((x) => x.name === p.source)?.kind;
    if (kind !== "folder") return t("counts", { tables: tp("count.tables", p.tables), rows: tp("count.rows", p.rows), size: fmtBytes(p.size_bytes) });
    const parts = [tp("count.files", p.tables), fmtBytes(p.rows)];
    const c = p.changes;
    if (c) parts.push(t("restore.changes", { added: fmtNumber(c.added), changed: fmtNumber(c.changed), removed: fmtNumber(c.removed), moved: fmtNumber(c.moved) }));
    if (p.missing_files) parts.push(tp("restore.missing_files", p.missing_files));
    return parts.join(" · ");
  }

  /** "Proven restorable from the destination on …", when a drill proved it. */
  function proofLine(p: RestorePoint): string {
    if (!p.proven) return "";
    return t(p.proven.place === "local" ? "restore.proven_local" : "restore.proven_destination", { date: fmtDateTime(p.proven.at) });
  }

  function pointRow(p: RestorePoint): HTMLElement {
    const status = pointStatus(p);
    return h(
      "li",
      { class: "point-row", "data-id": p.id, "data-status": status },
      h("div", { class: "grow" },
        h("p", { class: "point-title" }, h("span", { class: "point-date" }, fmtDateTime(p.created_at)), " · ", h("span", { class: "point-source" }, p.source)),
        h("p", { class: "muted point-details" }, pointDetails(p)),
        ...(p.proven ? [h("p", { class: "muted point-proven" }, proofLine(p))] : []),
        h("p", { class: `point-status status-${status}` }, t(STATUS_KEYS[status])),
      ),
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small point-restore", "data-focus-key": `restore-${p.id}`, "aria-label": t("restore.restore_named", { date: fmtDateTime(p.created_at), source: p.source }), onclick: () => void showPreview({ point: p.id }) }, t("restore.restore")),
        h("button", { type: "button", class: "btn btn-secondary btn-small point-export", "data-focus-key": `export-${p.id}`, "aria-label": t("restore.export_named", { date: fmtDateTime(p.created_at), source: p.source }), onclick: () => showExport(p) }, t("restore.export")),
      ),
    );
  }

  // Preview + restore choices (restore points and imported files alike).
  async function showPreview(backup: BackupSelector) {
    const stop = cancelButton("preview-stop");
    panel.replaceChildren(h("div", { class: "row-actions" }, h("p", { class: "muted", role: "status" }, t("restore.previewing")), stop));
    try {
      const p = await api.preview(backup);
      if (!alive) return;
      renderPreview(backup, p);
    } catch (e) {
      panel.replaceChildren();
      failed(e);
    }
  }

  /** A button that stops the preview or restore in progress. */
  function cancelButton(id: string): HTMLButtonElement {
    const b = h("button", { id, type: "button", class: "btn btn-secondary btn-small" }, t("common.cancel")) as HTMLButtonElement;
    b.addEventListener("click", () => {
      b.disabled = true;
      void api.cancelRestore();
    });
    return b;
  }

  /** A cancelled preview or restore changed nothing: said as information, not as an error. */
  function failed(e: unknown) {
    if (errorCode(e) === "cancelled") ctx.result("info", t("restore.cancelled"));
    else ctx.error(e);
  }

  function renderPreview(backup: BackupSelector, p: Preview) {
    const folder = p.kind === "folder";
    const tbody = h("tbody");
    // A folder lists its files (the first ones: thousands would not help).
    const SHOWN = 200;
    for (const [name, n] of p.tables.slice(0, folder ? SHOWN : undefined)) {
      tbody.append(h("tr", null, h("th", { scope: "row" }, name), h("td", { class: "num" }, folder ? fmtBytes(n) : fmtNumber(n))));
    }
    const more = folder && p.tables.length > SHOWN ? h("p", { class: "muted preview-more" }, t("restore.more_files", { n: fmtNumber(p.tables.length - SHOWN) })) : null;
    // A folder: restore only one file or subfolder, if wanted.
    const onlyInput = h("input", { id: "restore-only", type: "text", class: "input", autocomplete: "off", spellcheck: "false", "aria-describedby": "restore-only-hint" });
    const onlyField = folder
      ? h("div", { class: "field", id: "restore-only-field" }, h("label", { for: "restore-only" }, t("restore.only")), onlyInput, h("p", { id: "restore-only-hint", class: "hint" }, t("restore.only_hint")))
      : null;
    const modeNew = h("input", { id: "restore-mode-new", type: "radio", name: "restore-mode", value: "new", checked: true });
    const modeReplace = p.replaces ? h("input", { id: "restore-mode-replace", type: "radio", name: "restore-mode", value: "replace" }) : null;
    const ack = p.replaces ? h("input", { id: "restore-ack", type: "checkbox" }) : null;
    const error = h("p", { id: "restore-error", class: "field-error", "aria-live": "polite" });
    const to = pathField({
      id: "restore-to",
      browseId: "restore-to-browse",
      error,
      fieldClass: "field sub",
      label: t(folder ? "restore.to_folder" : "restore.to"),
      required: t(folder ? "restore.to_folder_required" : "restore.to_required"),
      value: p.replaces ? (folder ? `${p.replaces.replace(/[/\\]+$/, "")}-restored-${isoDay(p.created_at)}` : restoredPath(p.replaces, isoDay(p.created_at))) : "",
      pick: (current) => (folder ? pickDirectory() : pickDatabaseSave(current || `${p.source}-restored-${isoDay(p.created_at)}.db`)),
      onError: (e) => ctx.error(e),
    });
    const status = h("p", { id: "restore-status", class: "muted", "aria-live": "polite" });
    const confirm = h("button", { id: "restore-confirm", type: "button", class: "btn", onclick: () => void run() }, t("restore.confirm"));

    const replacing = () => !!modeReplace?.checked;
    const sync = () => {
      confirm.disabled = replacing() && !ack?.checked;
      to.setDisabled(replacing());
      confirm.textContent = replacing() ? t("restore.confirm_replace") : t("restore.confirm");
    };

    async function run() {
      let target: string | null = null;
      if (replacing()) {
        if (!ack?.checked) {
          error.textContent = t("restore.ack_required");
          ack?.focus();
          return;
        }
        to.clear();
      } else {
        target = to.validate();
        if (!target) return;
      }
      status.textContent = t("restore.running");
      const stop = cancelButton("restore-stop");
      confirm.after(stop);
      await busy(confirm, async () => {
        try {
          const only = onlyInput.value.trim();
          const report = await api.restore(
            backup,
            target,
            (pr) => {
              if (!alive) return;
              status.textContent = folder
                ? t("restore.progress_file", { file: pr.table, files: tp("count.files", pr.rows) })
                : t("restore.progress", { table: pr.table, rows: fmtNumber(pr.rows) });
            },
            only ? [only] : [],
          );
          panel.replaceChildren();
          ctx.result("success", restoredText(report));
          void load();
          void ctx.refreshOverview();
        } catch (e) {
          status.textContent = "";
          failed(e);
        }
      });
      stop.remove();
      if (confirm.isConnected) sync();
    }

    // Ticking the acknowledgement chooses "replace"; choosing "new file" clears it.
    modeNew.addEventListener("change", () => {
      if (ack) ack.checked = false;
      sync();
    });
    modeReplace?.addEventListener("change", sync);
    ack?.addEventListener("change", () => {
      if (ack.checked) {
        error.textContent = "";
        if (modeReplace) modeReplace.checked = true;
      }
      sync();
    });

    const section = h(
      "section",
      { id: "preview", class: "panel preview", "aria-labelledby": "preview-title", tabindex: "-1" },
      h("h3", { id: "preview-title" }, t("restore.preview_title")),
      h("p", { class: "preview-from" }, t("restore.preview_from", { source: p.source, date: fmtDateTime(p.created_at) })),
      h("table", { class: "preview-tables" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, t(folder ? "restore.col_file" : "restore.col_table")), h("th", { scope: "col", class: "num" }, t(folder ? "restore.col_size" : "restore.col_rows")))),
        tbody,
        h("tfoot", null, h("tr", null, h("th", { scope: "row" }, t("restore.total")), h("td", { class: "num preview-total" }, folder ? fmtBytes(p.rows) : fmtNumber(p.rows)))),
      ),
      more,
      h("p", { class: "preview-summary" }, folder
        ? t("restore.summary_folder", { files: tp("count.files", p.tables.length), size: fmtBytes(p.rows) })
        : t("restore.summary", { tables: tp("count.tables", p.tables.length), rows: tp("count.rows", p.rows) })),
      onlyField,
      p.replaces
        ? h("p", { class: "preview-replaces" }, t("restore.replaces", { path: p.replaces }), p.safety_copy ? ` ${t("restore.safety_copy")}` : "")
        : h("p", { class: "preview-replaces muted" }, t("restore.not_registered")),
      h("fieldset", { class: "choices" },
        h("legend", null, t("restore.how")),
        h("div", { class: "choice" },
          h("div", { class: "check-row" }, modeNew, h("label", { for: "restore-mode-new" }, t(folder ? "restore.mode_new_folder" : "restore.mode_new"))),
          to.el,
        ),
        modeReplace && ack
          ? h("div", { class: "choice" },
              h("div", { class: "check-row" }, modeReplace, h("label", { for: "restore-mode-replace" }, t(folder ? "restore.mode_replace_folder" : "restore.mode_replace"))),
              h("div", { class: "check-row sub" }, ack, h("label", { for: "restore-ack" }, t(folder ? "restore.ack_folder" : "restore.ack", { path: p.replaces ?? "" }))),
            )
          : null,
      ),
      error,
      status,
      h("div", { class: "actions" },
        confirm,
        h("button", { id: "restore-cancel", type: "button", class: "btn btn-secondary", onclick: () => panel.replaceChildren() }, t("common.cancel")),
      ),
    );
    sync();
    panel.replaceChildren(section);
    section.focus();
  }

  function restoredText(r: RestoreReport): string {
    const parts = [
      r.kind === "folder"
        ? t("restore.done_folder", { source: r.source, date: fmtDateTime(r.created_at), target: r.target, files: tp("count.files", r.tables.length) })
        : t("restore.done", { source: r.source, date: fmtDateTime(r.created_at), target: r.target, rows: tp("count.rows", r.rows) }),
    ];
    if (r.copy === "repaired") parts.push(t("restore.done_repaired"));
    if (r.safety_point) parts.push(t("restore.done_safety_point", { id: r.safety_point }));
    if (r.safety_file) parts.push(t("restore.done_safety_file", { path: r.safety_file }));
    // What could not be restored as it was (a policy naming a role the
    // server lacks…): the rest was; each is said.
    if (r.not_restored.length) parts.push(t("restore.done_not_restored", { items: r.not_restored.join("; ") }));
    return parts.join(" ");
  }

  // Export.
  function showExport(p: RestorePoint) {
    const path = pathField({
      id: "export-path",
      browseId: "export-browse",
      error: "export-error",
      label: t("restore.export_path"),
      required: t("restore.export_required"),
      value: `${p.source}-${isoDay(p.created_at)}.json`,
      pick: (current) => pickJsonSave(current || `${p.source}-${isoDay(p.created_at)}.json`),
      onError: (e) => ctx.error(e),
    });
    const go = h("button", { id: "export-confirm", type: "submit", class: "btn" }, t("restore.export_confirm"));
    const section = h(
      "section",
      { id: "export-panel", class: "panel", "aria-labelledby": "export-title", tabindex: "-1" },
      h("h3", { id: "export-title" }, t("restore.export_title")),
      h("p", { class: "muted" }, t("restore.export_help", { source: p.source, date: fmtDateTime(p.created_at) })),
      h("form", { novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void run(); } },
        path.el,
        h("div", { class: "actions" },
          go,
          h("button", { id: "export-cancel", type: "button", class: "btn btn-secondary", onclick: () => panel.replaceChildren() }, t("common.cancel")),
        ),
      ),
    );

    async function run() {
      const file = path.validate();
      if (!file) return;
      await busy(go, async () => {
        try {
          const bytes = await api.exportPoint(p.id, file);
          panel.replaceChildren();
          ctx.result("success", t("restore.exported", { path: file, size: fmtBytes(bytes) }));
        } catch (e) {
          ctx.error(e);
        }
      });
    }

    panel.replaceChildren(section);
    section.focus();
  }

  // Import.
  const importPath = pathField({
    id: "import-path",
    browseId: "import-browse",
    error: "import-error",
    label: t("restore.import_path"),
    required: t("restore.import_required"),
    pick: () => pickBackupFile(),
    onError: (e) => ctx.error(e),
    actions: [h("button", { id: "import-preview", type: "submit", class: "btn" }, t("restore.import_preview"))],
  });
  const importSection = h(
    "section",
    { class: "panel", "aria-labelledby": "import-title" },
    h("h3", { id: "import-title" }, t("restore.import_title")),
    h("p", { class: "muted" }, t("restore.import_help")),
    h("form", { novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void previewImport(); } }, importPath.el),
  );

  async function previewImport() {
    const file = importPath.validate();
    if (!file) return;
    await showPreview({ file });
  }

  fillFilter();
  el.append(
    h("h2", { id: "restore-title", class: "view-title" }, t("restore.title")),
    h("div", { class: "field field-inline" }, h("label", { for: "restore-filter" }, t("restore.filter")), filter),
    list,
    panel,
    importSection,
  );
  list.append(h("p", { class: "muted" }, t("common.loading")));
  void load();

  return {
    el,
    onOverview() {
      fillFilter();
    },
    onEvent(e) {
      if (e.event === "state_changed" || e.event === "run_finished" || e.event === "source_finished") void load();
    },
    destroy() {
      alive = false;
    },
  };
}
