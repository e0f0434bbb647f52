// Destination: a OneDrive folder picked in a folder browser, a sharing link,
// or a local folder.
import { api, type DestinationKind, type FolderEntry, type S3Form, type S3Probe, type S3Where } from "../api";
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
    // Testing again is for the bucket in use, not for the form below.
    s3Test.hidden = d?.kind !== "s3";
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

  // (d) An S3-compatible bucket.
  const provider = h("select", { id: "dest-s3-provider", class: "input", onchange: () => showProvider() },
    h("option", { value: "r2" }, t("dest.s3_r2")),
    h("option", { value: "aws" }, t("dest.s3_aws")),
    h("option", { value: "custom" }, t("dest.s3_other")),
  ) as HTMLSelectElement;
  const input = (id: string, type = "text") =>
    h("input", { id, type, class: "input", autocomplete: "off", spellcheck: "false" }) as HTMLInputElement;
  const account = input("dest-s3-account");
  const region = input("dest-s3-region");
  const endpoint = input("dest-s3-endpoint", "url");
  const bucket = input("dest-s3-bucket");
  const prefix = input("dest-s3-prefix");
  const keyId = input("dest-s3-key-id");
  const secret = input("dest-s3-secret", "password");
  const lock = input("dest-s3-lock", "number");
  lock.min = "1";
  lock.step = "1";
  const addressing = h("select", { id: "dest-s3-addressing", class: "input" },
    h("option", { value: "path" }, t("dest.s3_path_style")),
    h("option", { value: "virtual" }, t("dest.s3_virtual_host")),
  ) as HTMLSelectElement;
  const field = (id: string, label: string, el: HTMLElement) =>
    h("div", { class: "field", id: `${id}-field` }, h("label", { for: id }, label), el);
  const accountField = field("dest-s3-account", t("dest.s3_account"), account);
  const regionField = field("dest-s3-region", t("dest.s3_region"), region);
  const endpointField = field("dest-s3-endpoint", t("dest.s3_endpoint"), endpoint);
  const addressingField = field("dest-s3-addressing", t("dest.s3_addressing_label"), addressing);
  endpoint.placeholder = "https://minio.local:9000";
  region.placeholder = "eu-west-3";
  const s3Error = h("p", { id: "dest-s3-error", class: "field-error", "aria-live": "polite" });
  const s3Result = h("p", { id: "dest-s3-result", class: "muted", role: "status" });
  function showProvider() {
    const p = provider.value;
    accountField.hidden = p !== "r2";
    regionField.hidden = p === "r2";
    endpointField.hidden = p !== "custom";
    addressingField.hidden = p !== "custom";
  }
  const s3Test = h("button", { id: "dest-s3-test", type: "button", class: "btn btn-secondary", hidden: true, onclick: (ev: MouseEvent) => void testS3(ev.currentTarget as HTMLButtonElement) }, t("dest.s3_test"));
  const s3Section = h(
    "section",
    { class: "panel", "aria-labelledby": "dest-s3-title" },
    h("h3", { id: "dest-s3-title" }, t("dest.s3_title")),
    h("p", { class: "muted" }, t("dest.s3_help")),
    h("form", { novalidate: true, onsubmit: (ev: SubmitEvent) => { ev.preventDefault(); void useS3(); } },
      field("dest-s3-provider", t("dest.s3_provider"), provider),
      accountField, endpointField, addressingField, regionField,
      field("dest-s3-bucket", t("dest.s3_bucket"), bucket),
      field("dest-s3-prefix", t("dest.s3_prefix"), prefix),
      field("dest-s3-key-id", t("dest.s3_key_id"), keyId),
      field("dest-s3-secret", t("dest.s3_secret"), secret),
      field("dest-s3-lock", t("dest.s3_lock"), lock),
      s3Error,
      h("div", { class: "actions" },
        h("button", { id: "dest-s3-use", type: "submit", class: "btn" }, t("dest.s3_use")),
        s3Test,
      ),
      s3Result,
    ),
  );
  showProvider();

  /**
   * The form as the engine takes it; or null, with the first field that
   * needs the person marked, focused and said.
   */
  function s3Form(): S3Form | null {
    const p = provider.value;
    const missing = [
      p === "r2" ? account : p === "aws" ? region : endpoint,
      bucket,
      keyId,
      secret,
    ].filter((el) => !el.value.trim());
    for (const el of [account, region, endpoint, bucket, keyId, secret, lock]) el.removeAttribute("aria-invalid");
    const days = Number(lock.value);
    const badLock = lock.value.trim() !== "" && !(Number.isInteger(days) && days > 0 && days <= 36500);
    if (badLock) missing.push(lock);
    if (missing.length > 0) {
      for (const el of missing) el.setAttribute("aria-invalid", "true");
      s3Error.textContent = missing[0] === lock ? t("dest.s3_lock_invalid") : t("dest.s3_required");
      missing[0].focus();
      return null;
    }
    const where: S3Where =
      p === "r2" ? { provider: "r2", account: account.value.trim() }
      : p === "aws" ? { provider: "aws", region: region.value.trim() }
      : { provider: "custom", endpoint: endpoint.value.trim(), region: region.value.trim() || null, virtual_host: addressing.value === "virtual" };
    return {
      where,
      bucket: bucket.value.trim(),
      prefix: prefix.value.trim(),
      access_key_id: keyId.value.trim(),
      lock_days: lock.value.trim() ? days : null,
    };
  }

  function showProbe(p: S3Probe) {
    const lock =
      p.lock === "enabled" && p.lock_days ? t("dest.s3_lock_days", { days: String(p.lock_days) })
      : p.lock === "available" ? t("dest.s3_lock_available")
      : p.lock === "unavailable" ? t("dest.s3_lock_unavailable", { why: p.lock_why ?? "" })
      : t("dest.s3_lock_not_asked");
    const where = p.prefix
      ? t("dest.s3_where_prefix", { bucket: p.bucket, endpoint: p.endpoint, prefix: p.prefix })
      : t("dest.s3_where", { bucket: p.bucket, endpoint: p.endpoint });
    const lines = [
      t("dest.s3_ok", { destination: where, lock }),
      t("dest.s3_addressing", { addressing: p.addressing === "path" ? t("dest.s3_path_style") : t("dest.s3_virtual_host") }),
    ];
    if (Math.abs(p.clock_off_seconds) > 60) lines.push(t("dest.s3_clock", { minutes: String(Math.round(Math.abs(p.clock_off_seconds) / 60)) }));
    s3Result.textContent = lines.join(" ");
  }

  /** A failed probe, said beside the form as well as in the result bar. */
  function s3Failed(e: unknown) {
    const parts = errorParts(e);
    s3Result.textContent = "";
    s3Error.textContent = parts.message ? `${parts.headline} ${parts.message}` : parts.headline;
    ctx.error(e);
  }

  async function useS3() {
    const form = s3Form();
    if (!form) return;
    s3Error.textContent = "";
    // The probe asks the provider for up to half a minute.
    s3Result.textContent = t("dest.s3_testing");
    await busy(s3Section.querySelector<HTMLButtonElement>("#dest-s3-use"), async () => {
      try {
        // A secret pasted with a space around it is the same secret.
        const probe = await api.useS3(form, secret.value.trim());
        secret.value = "";
        showProbe(probe);
        await done(probe.destination);
      } catch (e) {
        s3Failed(e);
      }
    });
  }

  async function testS3(button: HTMLButtonElement) {
    s3Error.textContent = "";
    s3Result.textContent = t("dest.s3_testing");
    await busy(button, async () => {
      try {
        showProbe(await api.testS3());
      } catch (e) {
        s3Failed(e);
      }
    });
  }

  renderCurrent();
  el.append(h("h2", { id: "destination-title", class: "view-title" }, t("dest.title")), current, onedrive, share, s3Section, localSection);

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
