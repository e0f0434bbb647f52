// Destination: a OneDrive folder picked in a folder browser, a sharing link,
// or a local folder.
import { api, type DestinationKind, type FolderEntry } from "../api";
import { pathField } from "../components/path-field";
import type { Ctx, View } from "../context";
import { append, busy, h } from "../dom";
import { pickDirectory } from "../dialogs";
import { errorCode, errorParts } from "../errors";
import { t, tp, type Key } from "../i18n";

interface Crumb {
  name: string;
  driveId: string | null;
  itemId: string | null;
}

/** "/Backups/Shop" for the crumbs below the root. */
/** The overview's words for where backups go, by kind of destination. */
export function summaryKey(kind: DestinationKind): Key {
  return kind === "onedrive" ? "dest.summary_onedrive" : kind === "s3" ? "dest.summary_s3" : "dest.summary_folder";
}

export function crumbPath(crumbs: { name: string }[]): string {
  return "/" + crumbs.slice(1).map((c) => c.name).join("/");
}

/** A OneDrive folder name: not empty, none of \ / : * ? " < > |, not "." or "..". */
export function validFolderName(name: string): boolean {
  const n = name.trim();
  return n.length > 0 && n.length <= 255 && !/[\\/:*?"<>|]/.test(n) && n !== "." && n !== ".." && !n.endsWith(".");
}

export function destinationView(ctx: Ctx): View {
  const el = h("section", { id: "view-destination", class: "view", "aria-labelledby": "destination-title" });
  let alive = true;

  // Current destination.
  const current = h("div", { class: "panel", "aria-labelledby": "dest-current-title" });
  let shown: string | null = null;
  function renderCurrent() {
    const d = ctx.overview?.destination ?? null;
    const sig = d ? `${d.kind}:${d.label}` : "";
    if (sig === shown) return;
    shown = sig;
    const text = d ? t(summaryKey(d.kind), { label: d.label }) : t("dest.none");
    current.replaceChildren(
      h("h3", { id: "dest-current-title" }, t("dest.current_title")),
      h("p", { id: "dest-current", "data-kind": d?.kind ?? "none" }, text),
    );
    if (d) {
      const confirmBox = h("div", { class: "confirm", hidden: true });
      const removeBtn = h("button", { id: "dest-remove", type: "button", class: "btn btn-danger" }, t("dest.remove"));
      removeBtn.addEventListener("click", () => {
        removeBtn.hidden = true;
        confirmBox.hidden = false;
        const yes = h("button", { id: "dest-remove-confirm", type: "button", class: "btn btn-danger", onclick: () => void remove(yes) }, t("dest.remove_confirm"));
        const no = h("button", { id: "dest-remove-cancel", type: "button", class: "btn btn-secondary", onclick: () => { confirmBox.hidden = true; confirmBox.replaceChildren(); removeBtn.hidden = false; removeBtn.focus(); } }, t("common.cancel"));
        confirmBox.replaceChildren(h("p", null, t("dest.remove_question")), h("div", { class: "actions" }, yes, no));
        yes.focus();
      });
      current.append(removeBtn, confirmBox);
    }
  }

  async function remove(button: HTMLButtonElement) {
    await busy(button, async () => {
      try {
        await api.removeDestination();
        ctx.result("success", t("dest.removed"));
        await ctx.refreshOverview();
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  async function done(label: string) {
    ctx.result("success", t("dest.saved", { label }));
    await ctx.refreshOverview();
  }

  // (a) OneDrive folder picker.
  const picker = h("div", { id: "folder-picker", class: "folder-picker", hidden: true });
  let crumbs: Crumb[] = [];
  let folders: FolderEntry[] = [];
  let next: string | null = null;
  let browseSeq = 0;
  /** The drive seen in the listings, for "use this folder" at the root. */
  let knownDrive: string | null = null;

  const onedrive = h(
    "section",
    { class: "panel", "aria-labelledby": "dest-onedrive-title" },
    h("h3", { id: "dest-onedrive-title" }, t("dest.onedrive_title")),
    h("p", { class: "muted" }, t("dest.onedrive_help")),
    h("button", { id: "dest-onedrive-browse", type: "button", class: "btn", onclick: () => void openAt([{ name: t("dest.root"), driveId: null, itemId: null }]) }, t("dest.onedrive_browse")),
    picker,
  );

  async function openAt(path: Crumb[]) {
    const my = ++browseSeq;
    crumbs = path;
    folders = [];
    next = null;
    picker.hidden = false;
    picker.replaceChildren(h("p", { class: "muted", role: "status" }, t("common.loading")));
    const here = path[path.length - 1];
    try {
      const page = await api.browseOnedrive(here.driveId, here.itemId, null);
      if (my !== browseSeq || !alive) return;
      folders = page.folders;
      next = page.next;
      if (folders[0]) knownDrive = folders[0].drive_id;
      renderPicker();
    } catch (e) {
      if (my !== browseSeq || !alive) return;
      renderPickerError(e);
    }
  }

  function renderPickerError(e: unknown) {
    const p = errorParts(e);
    const box = h("div", { class: "inline-error-box", "data-error-code": p.code }, h("p", { class: "inline-error", role: "alert" }, `${p.headline} ${p.message}`));
    if (errorCode(e) === "sign_in_required") {
      box.append(h("button", { id: "sign-in", type: "button", class: "btn", onclick: () => ctx.openSignIn() }, t("account.sign_in")));
    } else {
      box.append(h("button", { id: "folder-retry", type: "button", class: "btn btn-secondary", onclick: () => void openAt(crumbs) }, t("common.try_again")));
    }
    picker.replaceChildren(box);
  }

  async function more(button: HTMLButtonElement) {
    const here = crumbs[crumbs.length - 1];
    const my = browseSeq;
    await busy(button, async () => {
      try {
        const page = await api.browseOnedrive(here.driveId, here.itemId, next);
        if (my !== browseSeq || !alive) return;
        folders = folders.concat(page.folders);
        next = page.next;
        renderPicker();
        const rows = picker.querySelectorAll<HTMLElement>(".folder-open");
        rows[folders.length - page.folders.length]?.focus();
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  function renderPicker() {
    const path = crumbPath(crumbs);
    const trail = h("ol", { class: "breadcrumbs" });
    crumbs.forEach((c, i) => {
      const last = i === crumbs.length - 1;
      trail.append(
        h(
          "li",
          null,
          last
            ? h("span", { "aria-current": "location", class: "crumb-current" }, c.name)
            : h("button", { type: "button", class: "link crumb", onclick: () => void openAt(crumbs.slice(0, i + 1)) }, c.name),
        ),
      );
    });
    const list = h("ul", { class: "folder-list", "aria-label": t("dest.folders") });
    if (!folders.length) list.append(h("li", { class: "muted" }, t("dest.no_subfolders")));
    for (const f of folders) list.append(folderRow(f));
    const newName = h("input", { id: "folder-new-name", type: "text", class: "input", autocomplete: "off" });
    const newError = h("p", { id: "folder-new-error", class: "field-error", "aria-live": "polite" });
    picker.replaceChildren();
    append(picker, [
      h("nav", { "aria-label": t("dest.breadcrumbs") }, trail),
      list,
      next ? h("button", { id: "folder-more", type: "button", class: "btn btn-secondary", onclick: (ev: MouseEvent) => void more(ev.currentTarget as HTMLButtonElement) }, t("dest.more")) : null,
      h("div", { class: "actions" },
        h("button", { id: "folder-use-current", type: "button", class: "btn", onclick: (ev: MouseEvent) => void useCurrent(ev.currentTarget as HTMLButtonElement) }, t("dest.use_current", { path })),
      ),
      h("form", { class: "inline-form", novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void create(newName, newError); } },
        h("div", { class: "field" },
          h("label", { for: "folder-new-name" }, t("dest.new_folder", { path })),
          h("div", { class: "input-row" }, newName, h("button", { id: "folder-create", type: "submit", class: "btn btn-secondary" }, t("dest.create"))),
          newError,
        ),
      ),
    ]);
  }

  function folderRow(f: FolderEntry): HTMLElement {
    const path = crumbPath([...crumbs, { name: f.name }]);
    return h(
      "li",
      { class: "folder-row", "data-item-id": f.item_id },
      h("span", { class: "folder-name" }, f.name),
      f.child_count != null ? h("span", { class: "muted folder-count" }, tp("count.items", f.child_count)) : null,
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn btn-secondary btn-small folder-open", "aria-label": t("dest.open_named", { name: f.name }), onclick: () => void openAt([...crumbs, { name: f.name, driveId: f.drive_id, itemId: f.item_id }]) }, t("dest.open")),
      h("button", { type: "button", class: "btn btn-small folder-use", "aria-label": t("dest.use_named", { name: f.name }), onclick: (ev: MouseEvent) => void use(f.drive_id, f.item_id, path, ev.currentTarget as HTMLButtonElement) }, t("dest.use")),
    );
  }

  async function use(driveId: string, itemId: string, path: string, button: HTMLButtonElement) {
    await busy(button, async () => {
      try {
        await api.useOnedriveFolder(driveId, itemId, path);
        await done(path);
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  async function useCurrent(button: HTMLButtonElement) {
    const here = crumbs[crumbs.length - 1];
    // At the root the listing gives no ids for the root itself: the drive
    // seen in its children (or "") and "" for the item; see README.
    await use(here.driveId ?? knownDrive ?? "", here.itemId ?? "", crumbPath(crumbs), button);
  }

  async function create(input: HTMLInputElement, error: HTMLElement) {
    const name = input.value.trim();
    if (!validFolderName(name)) {
      error.textContent = t("dest.folder_name_invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    const here = crumbs[crumbs.length - 1];
    const button = picker.querySelector<HTMLButtonElement>("#folder-create");
    await busy(button, async () => {
      try {
        const f = await api.createOnedriveFolder(here.driveId, here.itemId, name);
        folders = [f, ...folders.filter((x) => x.item_id !== f.item_id)];
        knownDrive = f.drive_id;
        renderPicker();
        ctx.result("success", t("dest.created", { name: f.name }));
        picker.querySelector<HTMLElement>(".folder-use")?.focus();
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  // (b) Sharing link.
  const link = h("input", { id: "dest-share-link", type: "url", class: "input", autocomplete: "off", spellcheck: "false", placeholder: t("dest.share_placeholder") });
  const linkError = h("p", { id: "dest-share-error", class: "field-error", "aria-live": "polite" });
  const share = h(
    "section",
    { class: "panel", "aria-labelledby": "dest-share-title" },
    h("h3", { id: "dest-share-title" }, t("dest.share_title")),
    h("p", { class: "muted" }, t("dest.share_help")),
    h("form", { novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void useLink(); } },
      h("div", { class: "field" },
        h("label", { for: "dest-share-link" }, t("dest.share_link")),
        h("div", { class: "input-row" }, link, h("button", { id: "dest-share-use", type: "submit", class: "btn" }, t("dest.use"))),
        linkError,
      ),
    ),
  );

  async function useLink() {
    const v = link.value.trim();
    if (!/^https:\/\/\S+$/i.test(v)) {
      linkError.textContent = t("dest.share_invalid");
      link.setAttribute("aria-invalid", "true");
      link.focus();
      return;
    }
    linkError.textContent = "";
    link.removeAttribute("aria-invalid");
    await busy(share.querySelector<HTMLButtonElement>("#dest-share-use"), async () => {
      try {
        await api.useShareLink(v);
        link.value = "";
        await done(t("dest.share_done"));
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  // (c) Local folder.
  const local = pathField({
    id: "dest-local-path",
    browseId: "dest-local-browse",
    error: "dest-local-error",
    label: t("dest.local_path"),
    required: t("dest.local_required"),
    pick: () => pickDirectory(),
    onError: (e) => ctx.error(e),
    actions: [h("button", { id: "dest-local-use", type: "submit", class: "btn" }, t("dest.use"))],
  });
  const localSection = h(
    "section",
    { class: "panel", "aria-labelledby": "dest-local-title" },
    h("h3", { id: "dest-local-title" }, t("dest.local_title")),
    h("p", { class: "muted" }, t("dest.local_help")),
    h("form", { novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void useLocal(); } }, local.el),
  );

  async function useLocal() {
    const v = local.validate();
    if (!v) return;
    await busy(localSection.querySelector<HTMLButtonElement>("#dest-local-use"), async () => {
      try {
        await api.useLocalFolder(v);
        await done(v);
      } catch (e) {
        ctx.error(e);
      }
    });
  }

  renderCurrent();
  el.append(h("h2", { id: "destination-title", class: "view-title" }, t("dest.title")), current, onedrive, share, localSection);

  return {
    el,
    onOverview() {
      const focusedInCurrent = current.contains(document.activeElement);
      renderCurrent();
      if (focusedInCurrent) current.querySelector<HTMLElement>("#dest-remove")?.focus();
    },
    destroy() {
      alive = false;
    },
  };
}
