// A file or folder path: a label, a text input, a "Browse…" button that opens
// a system dialog (see dialogs.ts), optional extra buttons in the same row
// (e.g. the form's submit) and the "required" message with aria-invalid.
//
//   <div class="field">
//     <label for="{id}">{label}</label>
//     <div class="input-row"><input id="{id}" …> <button id="{browseId}">Browse…</button> …actions</div>
//     <p id="{errorId}" class="field-error" aria-live="polite"></p>   (when `error` is an id)
//   </div>
import { h, type Child } from "../dom";
import { t } from "../i18n";

export interface PathFieldOptions {
  /** The input's id (the label points at it). */
  id: string;
  /** The "Browse…" button's id. */
  browseId: string;
  label: string;
  /** Shown when validate() finds the field empty. */
  required: string;
  /**
   * Where the message goes: an id gives a `p.field-error` inside the field;
   * an element (e.g. a message shared with other controls) is used as is and
   * not placed in the field.
   */
  error: string | HTMLElement;
  /** The initial value. */
  value?: string;
  /** The class of the field's div ("field" unless given). */
  fieldClass?: string;
  /** Opens the dialog; `current` is the input's value. Null (dialog closed) keeps the value. */
  pick(current: string): Promise<string | null>;
  /** A dialog that fails (shown by the view, usually ctx.error). */
  onError(e: unknown): void;
  /** More controls after "Browse…" in the input row. */
  actions?: Child[];
}

export interface PathField {
  /** The `.field` div, ready to be placed in a form. */
  el: HTMLDivElement;
  input: HTMLInputElement;
  browse: HTMLButtonElement;
  error: HTMLElement;
  /**
   * The trimmed path, with the message and aria-invalid cleared; or null when
   * it is empty, after showing `required`, setting aria-invalid and focusing the input.
   */
  validate(): string | null;
  /** Clears the message and aria-invalid. */
  clear(): void;
  /** Disables (or enables) the input and its "Browse…" button. */
  setDisabled(disabled: boolean): void;
}

export function pathField(o: PathFieldOptions): PathField {
  const input = h("input", { id: o.id, type: "text", class: "input", autocomplete: "off", spellcheck: "false", value: o.value });
  const error = typeof o.error === "string" ? h("p", { id: o.error, class: "field-error", "aria-live": "polite" }) : o.error;
  const browse = h("button", { id: o.browseId, type: "button", class: "btn btn-secondary", onclick: () => void choose() }, t("common.browse"));
  const el = h(
    "div",
    { class: o.fieldClass ?? "field" },
    h("label", { for: o.id }, o.label),
    h("div", { class: "input-row" }, input, browse, ...(o.actions ?? [])),
    typeof o.error === "string" ? error : null,
  );

  async function choose() {
    try {
      const path = await o.pick(input.value);
      if (path) input.value = path;
    } catch (e) {
      o.onError(e);
    }
  }

  function clear() {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  return {
    el,
    input,
    browse,
    error,
    validate() {
      const v = input.value.trim();
      if (!v) {
        error.textContent = o.required;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return null;
      }
      clear();
      return v;
    },
    clear,
    setDisabled(disabled: boolean) {
      input.disabled = disabled;
      browse.disabled = disabled;
    },
  };
}
