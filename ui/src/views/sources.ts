// Sources: the registered databases and folders (retention, remove) and
// the add form (a file's or folder's path typed or browsed, or a
// PostgreSQL connection string with its password apart; checked on the
// spot, name validated; a folder's patterns of what to leave out).
import { api, type SourceCheck, type SourceRecord } from "../api";
import type { Ctx, View } from "../context";
import { busy, field, h } from "../dom";
import { pickDatabase, pickDirectory } from "../dialogs";
import { errorParts } from "../errors";
import { fmtBytes, fmtDateTime } from "../format";
import { t, tp } from "../i18n";

/** Source names become folder names: 1–64 of A–Z a–z 0–9 - _ . , not starting with ".". */
export function validSourceName(name: string): boolean {
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(name);
}

/** Whether what was typed is a PostgreSQL connection string (not a file). */
export function isConnectionString(v: string): boolean {
  return /^\s*postgres(ql)?:\/\//i.test(v);
}

/** Empty (no limit) or a positive whole number. */
export function parseRetention(v: string): { ok: true; value: number | null } | { ok: false } {
  const s = v.trim();
  if (s === "") return { ok: true, value: null };
  if (!/^\d+$/.test(s)) return { ok: false };
  const n = Number(s);
  return n >= 1 && Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false };
}

function setInvalid(el: HTMLElement, invalid: boolean) {
  if (invalid) el.setAttribute("aria-invalid", "true");
  else el.removeAttribute("aria-invalid");
}

/** Checks the name typed in `input`, showing why in `error` when it cannot be used. */
function checkName(input: HTMLInputElement, error: HTMLElement): boolean {
  const name = input.value.trim();
  const ok = validSourceName(name);
  error.textContent = ok ? "" : name ? t("sources.name_invalid") : t("sources.name_required");
  setInvalid(input, !ok);
  return ok;
}

export function sourcesView(ctx: Ctx): View {
  const el = h("section", { id: "view-sources", class: "view", "aria-labelledby": "sources-view-title" });
  const list = h("div", { id: "source-list", class: "source-list" });
  let alive = true;

  // Add form.
  const pathInput = h("input", { id: "source-path", type: "text", class: "input", autocomplete: "off", spellcheck: "false", "aria-describedby": "source-check" });
  const check = h("p", { id: "source-check", class: "check", "aria-live": "polite" });
  // PostgreSQL: the password apart from the connection string (kept in the
  // keychain, never in a file), and a test of the connection on the spot.
  const passwordInput = h("input", { id: "source-password", type: "password", class: "input", autocomplete: "off", "aria-describedby": "source-password-hint" });
  const testBtn = h("button", { id: "source-test", type: "button", class: "btn btn-secondary", onclick: () => { checkedPath = null; void runCheck(); } }, t("sources.test_connection"));
  const passwordField = h(
    "div",
    { id: "source-password-field", class: "field", hidden: true },
    h("label", { for: "source-password" }, t("sources.password")),
    h("div", { class: "input-row" }, passwordInput, testBtn),
    h("p", { id: "source-password-hint", class: "hint" }, t("sources.password_hint")),
  );
  const details = h("ul", { id: "source-check-details", class: "check-details" });
  // A folder: what to leave out (patterns, comma-separated).
  const excludeInput = h("input", { id: "source-exclude", type: "text", class: "input", autocomplete: "off", spellcheck: "false", placeholder: "*.tmp, cache", "aria-describedby": "source-exclude-hint" });
  const excludeField = h(
    "div",
    { id: "source-exclude-field", class: "field", hidden: true },
    h("label", { for: "source-exclude" }, t("sources.exclude")),
    excludeInput,
    h("p", { id: "source-exclude-hint", class: "hint" }, t("sources.exclude_hint")),
  );
  const nameInput = h("input", { id: "source-name", type: "text", class: "input", autocomplete: "off", spellcheck: "false", maxlength: "64", "aria-describedby": "source-name-hint source-name-error" });
  const nameError = h("p", { id: "source-name-error", class: "field-error", "aria-live": "polite" });
  const addBtn = h("button", { id: "source-add", type: "submit", class: "btn" }, t("sources.add"));
  let checkedPath: string | null = null;
  let checkPromise: Promise<SourceCheck | null> = Promise.resolve(null);
  let suggested = "";
  let checkSeq = 0;

  const form = h(
    "form",
    { id: "source-add-form", class: "panel", novalidate: true, "aria-labelledby": "source-add-title", onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void add(); } },
    h("h3", { id: "source-add-title" }, t("sources.add_title")),
    h("p", { class: "muted" }, t("sources.add_help")),
    h(
      "div",
      { class: "field" },
      h("label", { for: "source-path" }, t("sources.path")),
      h("div", { class: "input-row" },
        pathInput,
        h("button", { id: "source-browse", type: "button", class: "btn btn-secondary", onclick: () => void browse(false) }, t("common.browse")),
        h("button", { id: "source-browse-folder", type: "button", class: "btn btn-secondary", onclick: () => void browse(true) }, t("sources.browse_folder")),
      ),
      check,
      details,
    ),
    passwordField,
    excludeField,
    field(t("sources.name"), nameInput, h("p", { id: "source-name-hint", class: "hint" }, t("sources.name_hint")), nameError),
    h("div", { class: "actions" }, addBtn),
  );

  pathInput.addEventListener("input", () => {
    passwordField.hidden = !isConnectionString(pathInput.value);
  });
  passwordInput.addEventListener("change", () => {
    checkedPath = null;
    void runCheck();
  });
  pathInput.addEventListener("change", () => void runCheck());
  pathInput.addEventListener("blur", () => void runCheck());
  nameInput.addEventListener("input", () => {
    if (nameError.textContent) validateName();
  });
  nameInput.addEventListener("blur", () => {
    if (nameInput.value) validateName();
  });

  el.append(
    h("h2", { id: "sources-view-title", class: "view-title" }, t("sources.title")),
    list,
    form,
  );

  async function browse(folder: boolean) {
    try {
      const p = folder ? await pickDirectory() : await pickDatabase();
      if (!p) return;
      pathInput.value = p;
      await runCheck();
    } catch (e) {
      ctx.error(e);
    }
  }

  function runCheck(): Promise<SourceCheck | null> {
    const path = pathInput.value.trim();
    if (path && path === checkedPath) return checkPromise;
    checkedPath = path || null;
    checkPromise = doCheck(path);
    return checkPromise;
  }

  async function doCheck(path: string): Promise<SourceCheck | null> {
    details.replaceChildren();
    passwordField.hidden = !isConnectionString(path);
    if (!path) {
      check.textContent = "";
      check.className = "check";
      delete check.dataset.errorCode;
      return null;
    }
    const my = ++checkSeq;
    check.className = "check muted";
    delete check.dataset.errorCode;
    const database = isConnectionString(path);
    check.textContent = t(database ? "sources.connecting" : "sources.checking");
    try {
      const r = await api.checkSource(path, database ? passwordInput.value || null : null);
      if (my !== checkSeq || !alive) return r;
      check.className = "check check-ok";
      const pg = r.postgresql;
      excludeField.hidden = r.kind !== "folder";
      if (r.folder) {
        check.textContent = t("sources.check_ok_folder", { files: tp("count.files", r.folder.files), size: fmtBytes(r.size_bytes) });
        for (const what of r.folder.skipped) details.append(h("li", { class: "check-warning" }, t("sources.skipped", { what })));
      } else if (pg) {
        check.textContent = t("sources.check_ok_pg", {
          version: pg.server_version,
          tables: tp("count.tables", r.tables),
          size: fmtBytes(r.size_bytes),
          schemas: pg.schemas.join(", "),
        });
        if (pg.left_out.length) details.append(h("li", {}, t("sources.left_out", { schemas: pg.left_out.join(", ") })));
        for (const n of pg.not_included) details.append(h("li", { class: "check-warning" }, t("sources.not_included", { what: n })));
        for (const ref of pg.references) {
          details.append(h("li", { class: "check-warning" }, t("sources.reference_out", { from: ref.from, to: ref.to, schema: ref.to_schema })));
        }
      } else {
        check.textContent = t("sources.check_ok", {
          tables: tp("count.tables", r.tables),
          size: fmtBytes(r.size_bytes),
          mode: r.journal_mode.toUpperCase(),
        });
      }
      pathInput.removeAttribute("aria-invalid");
      if (!nameInput.value || nameInput.value === suggested) {
        nameInput.value = r.suggested_name;
        nameError.textContent = "";
        nameInput.removeAttribute("aria-invalid");
        // Arriving while the person is in the field: selected, so what
        // they type replaces the proposal instead of being appended to it.
        if (document.activeElement === nameInput) nameInput.select();
      }
      suggested = r.suggested_name;
      return r;
    } catch (e) {
      if (my !== checkSeq || !alive) return null;
      const p = errorParts(e);
      check.className = "check check-error";
      check.dataset.errorCode = p.code;
      check.textContent = p.message ? `${p.headline} ${p.message}` : p.headline;
      pathInput.setAttribute("aria-invalid", "true");
      return null;
    }
  }

  function validateName(): boolean {
    return checkName(nameInput, nameError);
  }

  async function add() {
    const path = pathInput.value.trim();
    if (!path) {
      check.className = "check check-error";
      check.dataset.errorCode = "invalid_input";
      check.textContent = t("sources.path_required");
      pathInput.setAttribute("aria-invalid", "true");
      pathInput.focus();
      return;
    }
    const checked = await runCheck();
    const nameOk = validateName();
    if (!checked) {
      pathInput.focus();
      return;
    }
    if (!nameOk) {
      nameInput.focus();
      return;
    }
    const name = nameInput.value.trim();
    await busy(addBtn, async () => {
      try {
        const exclude = excludeField.hidden ? [] : excludeInput.value.split(",").map((x) => x.trim()).filter((x) => x);
        const s = await api.addSource(path, name, isConnectionString(path) ? passwordInput.value || null : null, exclude);
        ctx.result("success", t("sources.added", { name: s.name }));
        pathInput.value = "";
        passwordInput.value = "";
        passwordField.hidden = true;
        excludeInput.value = "";
        excludeField.hidden = true;
        details.replaceChildren();
        nameInput.value = "";
        suggested = "";
        checkedPath = null;
        checkPromise = Promise.resolve(null);
        check.textContent = "";
        check.className = "check";
        await Promise.all([load(), ctx.refreshOverview()]);
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  function renderList(sources: SourceRecord[]) {
    list.replaceChildren();
    if (!sources.length) {
      list.append(h("p", { class: "muted" }, t("sources.none")));
      return;
    }
    for (const s of sources) list.append(row(s));
  }

  function row(s: SourceRecord): HTMLElement {
    const status = ctx.overview?.sources.find((x) => x.name === s.name);
    const slug = s.name.replace(/[^A-Za-z0-9_-]/g, "_");
    const keepLast = h("input", { id: `keep-last-${slug}`, class: "input input-num keep-last", type: "number", min: "1", step: "1", inputmode: "numeric", value: s.keep_last ?? "" });
    const keepDays = h("input", { id: `keep-days-${slug}`, class: "input input-num keep-days", type: "number", min: "1", step: "1", inputmode: "numeric", value: s.keep_days ?? "" });
    const retError = h("p", { class: "field-error retention-error", "aria-live": "polite" });
    const confirmBox = h("div", { class: "confirm", hidden: true, role: "group" });
    const removeBtn = h("button", { type: "button", class: "btn btn-danger source-remove", "data-focus-key": `remove-${s.name}`, onclick: () => askRemove() }, t("sources.remove"));
    const renameBtn = h("button", { type: "button", class: "btn btn-secondary source-rename", "data-focus-key": `rename-${s.name}`, onclick: () => askRename() }, t("sources.rename"));
    const renameInput = h("input", { id: `rename-${slug}`, class: "input rename-input", type: "text", autocomplete: "off", spellcheck: "false", maxlength: "64", value: s.name, "aria-describedby": `rename-error-${slug}` });
    const renameError = h("p", { id: `rename-error-${slug}`, class: "field-error rename-error", "aria-live": "polite" });
    const renameSave = h("button", { type: "submit", class: "btn rename-save" }, t("sources.rename_save"));
    const renameForm = h("form", { class: "rename-form", hidden: true, novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void rename(); }, onkeydown: (ev: KeyboardEvent) => { if (ev.key === "Escape") { ev.preventDefault(); closeRename(); } } },
      field(t("sources.rename_label", { name: s.name }), renameInput, renameError),
      h("div", { class: "actions" },
        renameSave,
        h("button", { type: "button", class: "btn btn-secondary rename-cancel", onclick: () => closeRename() }, t("common.cancel")),
      ),
    );

    const r = h(
      "article",
      { class: "source-row panel", "data-name": s.name },
      h("div", { class: "row-head" },
        h("div", { class: "grow" },
          h("h3", { class: "source-name" }, s.name),
          h("p", { class: "source-path" }, s.path),
          h("p", { class: "muted" },
            t("sources.added_at", { date: fmtDateTime(s.added_at) }),
            status ? ` · ${tp("count.points", status.restore_points)}` : "",
          ),
        ),
        h("div", { class: "actions" }, renameBtn, removeBtn),
      ),
      renameForm,
      confirmBox,
      h("form", { class: "retention", novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void saveRetention(); } },
        h("p", { class: "retention-title" }, t("sources.retention")),
        h("div", { class: "retention-fields" },
          field(t("sources.keep_last"), keepLast),
          field(t("sources.keep_days"), keepDays),
          h("button", { type: "submit", class: "btn btn-secondary retention-save", "data-focus-key": `retention-${s.name}` }, t("common.save")),
        ),
        h("p", { class: "hint" }, t("sources.retention_hint")),
        retError,
      ),
    );

    function askRename() {
      renameForm.hidden = false;
      renameBtn.hidden = true;
      renameInput.value = s.name;
      renameInput.focus();
      renameInput.select();
    }

    function closeRename() {
      renameForm.hidden = true;
      renameBtn.hidden = false;
      renameError.textContent = "";
      setInvalid(renameInput, false);
      renameBtn.focus();
    }

    async function rename() {
      const next = renameInput.value.trim();
      if (next === s.name) {
        closeRename();
        return;
      }
      if (!checkName(renameInput, renameError)) {
        renameInput.focus();
        return;
      }
      await busy(renameSave, async () => {
        try {
          const renamed = await api.renameSource(s.name, next);
          const key = ctx.overview?.destination ? "sources.renamed" : "sources.renamed_local";
          ctx.result("success", t(key, { name: s.name, new_name: renamed.name }));
          await Promise.all([load(), ctx.refreshOverview()]);
          list.querySelector<HTMLElement>(`[data-focus-key="${`rename-${renamed.name}`.replace(/["\\]/g, "")}"]`)?.focus();
        } catch (e) {
          ctx.error(e);
        }
      });
    }

    function askRemove() {
      confirmBox.hidden = false;
      removeBtn.hidden = true;
      const yes = h("button", { type: "button", class: "btn btn-danger source-remove-confirm", onclick: () => void remove(yes) }, t("sources.remove_confirm"));
      const no = h("button", { type: "button", class: "btn btn-secondary source-remove-cancel", onclick: () => { confirmBox.hidden = true; removeBtn.hidden = false; confirmBox.replaceChildren(); removeBtn.focus(); } }, t("common.cancel"));
      confirmBox.replaceChildren(h("p", null, t("sources.remove_question", { name: s.name })), h("div", { class: "actions" }, yes, no));
      yes.focus();
    }

    async function remove(button: HTMLButtonElement) {
      await busy(button, async () => {
        try {
          await api.removeSource(s.name);
          ctx.result("success", t("sources.removed", { name: s.name }));
          await Promise.all([load(), ctx.refreshOverview()]);
        } catch (e) {
          ctx.error(e);
        }
      });
    }

    async function saveRetention() {
      const last = parseRetention(keepLast.value);
      const days = parseRetention(keepDays.value);
      setInvalid(keepLast, !last.ok);
      setInvalid(keepDays, !days.ok);
      if (!last.ok || !days.ok) {
        retError.textContent = t("sources.retention_invalid");
        (!last.ok ? keepLast : keepDays).focus();
        return;
      }
      retError.textContent = "";
      try {
        await api.setRetention(s.name, last.value, days.value);
        ctx.result("success", t("sources.retention_saved", { name: s.name }));
      } catch (e) {
        ctx.error(e);
      }
    }

    return r;
  }

  async function load() {
    try {
      const sources = await api.sources();
      if (alive) renderList(sources);
    } catch (e) {
      if (!alive) return;
      const p = errorParts(e);
      list.replaceChildren(h("p", { class: "inline-error" }, `${p.headline} ${p.message}`));
    }
  }

  list.append(h("p", { class: "muted" }, t("common.loading")));
  void load();

  return {
    el,
    destroy() {
      alive = false;
    },
  };
}
