import { afterEach, describe, expect, test, vi } from "vitest";
import { pickDirectory, pickJsonSave } from "../dialogs";
import { $, click, mockBackend, teardown, type } from "../test/harness";
import { pathField, type PathFieldOptions } from "./path-field";

afterEach(teardown);

function mount(o: Partial<PathFieldOptions> = {}) {
  const onError = vi.fn();
  const field = pathField({ id: "p", browseId: "p-browse", error: "p-error", label: "Folder", required: "A folder is needed.", pick: () => pickDirectory(), onError, ...o });
  const form = document.createElement("form");
  form.append(field.el);
  document.body.replaceChildren(form);
  return { field, onError };
}

const input = () => $("#p") as HTMLInputElement;

describe("path field", () => {
  test("renders the label, input, Browse… button, extra actions and message", () => {
    const submit = document.createElement("button");
    submit.id = "p-use";
    const { field } = mount({ value: "/start", actions: [submit] });
    expect(field.el.className).toBe("field");
    expect($("label[for='p']").textContent).toBe("Folder");
    expect(input().value).toBe("/start");
    expect([...$(".input-row").children].map((c) => c.id)).toEqual(["p", "p-browse", "p-use"]);
    expect($("#p-browse").textContent).toBe("Browse…");
    expect($("#p-error").getAttribute("aria-live")).toBe("polite");
    expect(field.el.lastElementChild).toBe($("#p-error"));
  });

  test("a typed path is validated and trimmed", async () => {
    const { field } = mount();
    await type("#p", "  /data/backups ");
    expect(field.validate()).toBe("/data/backups");
    expect($("#p-error").textContent).toBe("");
    expect(input().hasAttribute("aria-invalid")).toBe(false);
  });

  test("an empty path shows the message, sets aria-invalid and focuses; a valid one clears them", async () => {
    const { field } = mount();
    await type("#p", "   ");
    expect(field.validate()).toBeNull();
    expect($("#p-error").textContent).toBe("A folder is needed.");
    expect(input().getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement).toBe(input());
    await type("#p", "/x");
    expect(field.validate()).toBe("/x");
    expect($("#p-error").textContent).toBe("");
    expect(input().hasAttribute("aria-invalid")).toBe(false);
  });

  test("Browse… fills the input with the path chosen in the dialog", async () => {
    const backend = mockBackend({ "plugin:dialog|open": () => "/media/usb" });
    mount();
    await click("#p-browse");
    expect(backend.called("plugin:dialog|open")[0].options).toEqual({ directory: true });
    expect(input().value).toBe("/media/usb");
  });

  test("the dialog gets the current value; closing it keeps the value", async () => {
    const backend = mockBackend({ "plugin:dialog|save": () => null });
    mount({ value: "shop.json", pick: (current) => pickJsonSave(current || "default.json") });
    await click("#p-browse");
    expect(backend.called("plugin:dialog|save")[0].options.defaultPath).toBe("shop.json");
    expect(input().value).toBe("shop.json");
  });

  test("a failing dialog is reported with onError", async () => {
    mockBackend({ "plugin:dialog|open": () => Promise.reject("no portal") });
    const { onError } = mount();
    await click("#p-browse");
    expect(onError).toHaveBeenCalledWith("no portal");
    expect(input().value).toBe("");
  });

  test("an outside message element is used and not placed in the field; setDisabled", () => {
    const shared = document.createElement("p");
    const { field } = mount({ error: shared, fieldClass: "field sub" });
    expect(field.el.className).toBe("field sub");
    expect(field.el.contains(shared)).toBe(false);
    expect(field.validate()).toBeNull();
    expect(shared.textContent).toBe("A folder is needed.");
    field.clear();
    expect(shared.textContent).toBe("");
    expect(input().hasAttribute("aria-invalid")).toBe(false);
    field.setDisabled(true);
    expect(input().disabled && ($("#p-browse") as HTMLButtonElement).disabled).toBe(true);
    field.setDisabled(false);
    expect(input().disabled || ($("#p-browse") as HTMLButtonElement).disabled).toBe(false);
  });
});
