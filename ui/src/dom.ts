// Tiny DOM helpers: every node is built with createElement/textContent, so no
// markup is ever parsed from data (the CSP forbids inline script and style,
// and nothing here needs innerHTML).

export type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;
type Handler = (ev: never) => void;
export type Props = Record<string, AttrValue | Handler>;

/**
 * `h("button", { id: "x", type: "button", onclick: f }, "Label")`.
 * Keys starting with `on` add event listeners; `class` sets the class list;
 * `value` is set as a property once the children (e.g. options) are in;
 * `true` gives an empty attribute and `false`/`null`/`undefined` none.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  let value: string | undefined;
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (typeof v === "function") {
        el.addEventListener(k.slice(2), v as unknown as EventListener);
      } else if (k === "class") {
        el.className = String(v);
      } else if (k === "value") {
        value = String(v);
      } else {
        el.setAttribute(k, v === true ? "" : String(v));
      }
    }
  }
  append(el, children);
  if (value !== undefined) (el as unknown as { value: string }).value = value;
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Runs `render` and gives the focus back to the element that had it (by id or data-focus-key). */
export function keepFocus(scope: Element, render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const inside = active && scope.contains(active);
  const id = inside ? active.id : "";
  const key = inside ? active.dataset.focusKey : undefined;
  render();
  if (!inside) return;
  let target: HTMLElement | null = null;
  if (id) target = document.getElementById(id);
  else if (key) target = scope.querySelector<HTMLElement>(`[data-focus-key="${key.replace(/["\\]/g, "")}"]`);
  target?.focus();
}

/** Disables `button` while `p` runs; resolves to p's outcome. */
export async function busy<T>(button: HTMLButtonElement | null, p: () => Promise<T>): Promise<T> {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await p();
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

/** A label + control pair; the label is bound with `for`. */
export function field(label: string, control: HTMLElement, ...extra: Child[]): HTMLDivElement {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, ...extra);
}
