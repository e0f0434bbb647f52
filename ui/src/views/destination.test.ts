import { afterEach, describe, expect, test } from "vitest";
import type { AppOverview, FolderPage } from "../api";
import { $, $$, boot, click, overview, settings, teardown, text, type, until, type Handler } from "../test/harness";
import { crumbPath, validFolderName } from "./destination";

afterEach(teardown);

const root: FolderPage = {
  folders: [
    { name: "Backups", drive_id: "d1", item_id: "i-backups", child_count: 2 },
    { name: "Documents", drive_id: "d1", item_id: "i-docs", child_count: 40 },
  ],
  next: "page2",
};
const page2: FolderPage = { folders: [{ name: "Photos", drive_id: "d1", item_id: "i-photos", child_count: 0 }], next: null };
const backups: FolderPage = { folders: [{ name: "Shop", drive_id: "d1", item_id: "i-shop", child_count: 0 }], next: null };

function browse(a: { driveId: string | null; itemId: string | null; next: string | null }) {
  if (a.itemId === null) return a.next === "page2" ? page2 : root;
  if (a.itemId === "i-backups") return backups;
  return { folders: [], next: null };
}

/** Picks the S3 provider, as a person does. */
function chooseProvider(value: string) {
  const select = $("#dest-s3-provider") as HTMLSelectElement;
  select.value = value;
  select.dispatchEvent(new Event("change"));
}

/** Types each field of the S3 form (`bucket` → `#dest-s3-bucket`). */
async function fillS3(fields: Record<string, string>) {
  for (const [field, value] of Object.entries(fields)) await type(`#dest-s3-${field}`, value);
}

async function openDestination(handlers: Record<string, Handler> = {}) {
  const r = await boot({ browse_onedrive: browse, use_onedrive_folder: () => null, ...handlers });
  await click("#nav-destination");
  return r;
}

describe("OneDrive folder picker", () => {
  test("browses, pages, opens a folder and uses a subfolder with its path", async () => {
    const { backend } = await openDestination();
    expect(text("#dest-current")).toBe("OneDrive: OneDrive folder /Backups");
    await click("#dest-onedrive-browse");
    await until(() => expect($$(".folder-row")).toHaveLength(2));
    expect(backend.called("browse_onedrive")[0]).toEqual({ driveId: null, itemId: null, next: null });
    await click("#folder-more");
    await until(() => expect($$(".folder-row")).toHaveLength(3));
    expect(backend.called("browse_onedrive")[1]).toEqual({ driveId: null, itemId: null, next: "page2" });
    expect(document.querySelector("#folder-more")).toBeNull();

    await click($('.folder-row[data-item-id="i-backups"] .folder-open'));
    await until(() => expect($$(".folder-row").map((r) => r.dataset.itemId)).toEqual(["i-shop"]));
    expect(backend.called("browse_onedrive")[2]).toEqual({ driveId: "d1", itemId: "i-backups", next: null });
    expect($("#folder-picker").textContent).toContain("Backups");

    await click($('.folder-row[data-item-id="i-shop"] .folder-use'));
    expect(backend.called("use_onedrive_folder")).toEqual([{ driveId: "d1", itemId: "i-shop", path: "/Backups/Shop" }]);
    await until(() => expect($("#result").dataset.kind).toBe("success"));
  });

  test("use the current folder", async () => {
    const { backend } = await openDestination();
    await click("#dest-onedrive-browse");
    await until(() => expect($$(".folder-row")).toHaveLength(2));
    await click($('.folder-row[data-item-id="i-backups"] .folder-open'));
    await until(() => expect($("#folder-use-current").textContent).toContain("/Backups"));
    await click("#folder-use-current");
    expect(backend.called("use_onedrive_folder")).toEqual([{ driveId: "d1", itemId: "i-backups", path: "/Backups" }]);
  });

  test("breadcrumbs go back up", async () => {
    await openDestination();
    await click("#dest-onedrive-browse");
    await until(() => expect($$(".folder-row")).toHaveLength(2));
    await click($('.folder-row[data-item-id="i-backups"] .folder-open'));
    await until(() => expect($$(".folder-row")).toHaveLength(1));
    await click($(".breadcrumbs .crumb"));
    await until(() => expect($$(".folder-row")).toHaveLength(2));
  });

  test("creates a folder in the current one; it appears in the list", async () => {
    const { backend } = await openDestination({ create_onedrive_folder: (a) => ({ name: a.name, drive_id: "d1", item_id: "i-new", child_count: 0 }) });
    await click("#dest-onedrive-browse");
    await until(() => expect($$(".folder-row")).toHaveLength(2));
    await type("#folder-new-name", "a/b");
    await click("#folder-create");
    expect(text("#folder-new-error")).not.toBe("");
    expect(backend.called("create_onedrive_folder")).toHaveLength(0);
    await type("#folder-new-name", "Nuage");
    await click("#folder-create");
    expect(backend.called("create_onedrive_folder")).toEqual([{ driveId: null, itemId: null, name: "Nuage" }]);
    await until(() => expect($('.folder-row[data-item-id="i-new"]').textContent).toContain("Nuage"));
  });

  test("sign_in_required offers to sign in", async () => {
    await openDestination({
      overview: () => overview({ signed_in: null }),
      browse_onedrive: () => Promise.reject({ code: "sign_in_required", message: "Sign in to browse OneDrive." }),
      sign_in_start: () => new Promise(() => undefined),
    });
    await click("#dest-onedrive-browse");
    await until(() => expect($("#folder-picker").textContent).toContain("Sign in to browse OneDrive."));
    await click("#sign-in");
    expect($("#sign-in-dialog")).toBeTruthy();
  });
});

describe("other destinations", () => {
  test("sharing link", async () => {
    const { backend } = await openDestination({ use_share_link: () => null });
    await type("#dest-share-link", "not a link");
    await click("#dest-share-use");
    expect(backend.called("use_share_link")).toHaveLength(0);
    expect(text("#dest-share-error")).not.toBe("");
    await type("#dest-share-link", "https://contoso.sharepoint.com/:f:/s/team/abc");
    await click("#dest-share-use");
    expect(backend.called("use_share_link")).toEqual([{ link: "https://contoso.sharepoint.com/:f:/s/team/abc" }]);
  });

  test("local folder, typed or browsed", async () => {
    const { backend } = await openDestination({ use_local_folder: () => null, "plugin:dialog|open": () => "/media/usb/backups" });
    await click("#dest-local-browse");
    expect(backend.called("plugin:dialog|open")[0].options).toEqual({ directory: true });
    expect(($("#dest-local-path") as HTMLInputElement).value).toBe("/media/usb/backups");
    await click("#dest-local-use");
    expect(backend.called("use_local_folder")).toEqual([{ path: "/media/usb/backups" }]);
  });

  test("an S3 bucket: the preset's fields, nothing sent until complete, the probe's findings shown", async () => {
    const probe = {
      destination: "S3 bucket shop-backups at https://acct.r2.cloudflarestorage.com",
      addressing: "path",
      object_lock: "enabled",
      lock: "enabled" as const,
      lock_why: null,
      lock_days: 30,
      bucket: "shop-backups",
      endpoint: "https://acct.r2.cloudflarestorage.com",
      prefix: "",
      clock_off_seconds: 600,
    };
    let destination: AppOverview["destination"] = { kind: "onedrive", label: "OneDrive folder /Backups" };
    const { backend } = await openDestination({
      use_s3: () => {
        destination = { kind: "s3", label: probe.destination };
        return probe;
      },
      test_s3: () => probe,
      overview: () => overview({ destination }),
    });
    // Testing again is for a bucket in use: none yet.
    expect($("#dest-s3-test").hidden).toBe(true);
    // R2 by default: its account id, no endpoint, region or addressing to type.
    expect(($("#dest-s3-account-field") as HTMLElement).hidden).toBe(false);
    expect(($("#dest-s3-endpoint-field") as HTMLElement).hidden).toBe(true);
    expect(($("#dest-s3-region-field") as HTMLElement).hidden).toBe(true);
    expect(($("#dest-s3-addressing-field") as HTMLElement).hidden).toBe(true);
    await type("#dest-s3-bucket", "shop-backups");
    await click("#dest-s3-use");
    expect(backend.called("use_s3")).toHaveLength(0);
    expect(text("#dest-s3-error")).toContain("Fill in");
    // The first field missing is marked and focused.
    expect($("#dest-s3-account").getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement?.id).toBe("dest-s3-account");
    expect($("#dest-s3-bucket").hasAttribute("aria-invalid")).toBe(false);
    await type("#dest-s3-account", "acct");
    await type("#dest-s3-key-id", "KEYID");
    await type("#dest-s3-secret", " s3cret ");
    // A lock that is not a whole number of days is said, not dropped.
    await type("#dest-s3-lock", "1.5");
    await click("#dest-s3-use");
    expect(backend.called("use_s3")).toHaveLength(0);
    expect(text("#dest-s3-error")).toContain("whole number");
    expect(document.activeElement?.id).toBe("dest-s3-lock");
    await type("#dest-s3-lock", "30");
    await click("#dest-s3-use");
    expect(backend.called("use_s3")).toEqual([
      {
        form: { where: { provider: "r2", account: "acct" }, bucket: "shop-backups", prefix: "", access_key_id: "KEYID", lock_days: 30 },
        secret: "s3cret",
      },
    ]);
    await until(() => expect(text("#dest-s3-result")).toContain("kept undeletable for 30 days"));
    expect(text("#dest-s3-result")).toContain("Bucket shop-backups at https://acct.r2.cloudflarestorage.com: writing");
    expect(text("#dest-s3-result")).toContain("Addressing: path-style");
    expect(text("#dest-s3-result")).toContain("10 minutes");
    expect(($("#dest-s3-secret") as HTMLInputElement).value).toBe("");
    await until(() => expect($("#dest-s3-test").hidden).toBe(false));
    // Another endpoint: its address, region and addressing.
    chooseProvider("custom");
    expect(($("#dest-s3-endpoint-field") as HTMLElement).hidden).toBe(false);
    expect(($("#dest-s3-region-field") as HTMLElement).hidden).toBe(false);
    expect(($("#dest-s3-addressing-field") as HTMLElement).hidden).toBe(false);
    await type("#dest-s3-endpoint", "https://s3.example.com");
    ($("#dest-s3-addressing") as HTMLSelectElement).value = "virtual";
    await type("#dest-s3-secret", "s3cret");
    await click("#dest-s3-use");
    expect(backend.called("use_s3")[1].form.where).toEqual({
      provider: "custom",
      endpoint: "https://s3.example.com",
      region: null,
      virtual_host: true,
    });
    await click("#dest-s3-test");
    expect(backend.called("test_s3")).toHaveLength(1);
  });

  test("an S3 probe's findings are said in the person's language", async () => {
    const probe = {
      destination: "S3 bucket shop at https://nas.local:9000 (under nuage)",
      addressing: "path",
      object_lock: "not available (the bucket has no Object Lock); copies are written without a retention",
      lock: "unavailable" as const,
      lock_why: "the bucket has no Object Lock",
      lock_days: null,
      bucket: "shop",
      endpoint: "https://nas.local:9000",
      prefix: "nuage",
      clock_off_seconds: 0,
    };
    await openDestination({ use_s3: () => probe, settings: () => settings({ language: "fr" }) });
    chooseProvider("custom");
    await fillS3({ endpoint: "https://nas.local:9000", bucket: "shop", prefix: "nuage", "key-id": "KEYID", secret: "s3cret" });
    await click("#dest-s3-use");
    await until(() => expect(text("#dest-s3-result")).toContain("Bucket shop sur https://nas.local:9000, dossier nuage : écriture"));
    expect(text("#dest-s3-result")).toContain("Object Lock : non disponible (the bucket has no Object Lock)");
    expect(text("#dest-s3-result")).toContain("Adressage : par chemin");
  });

  test("an S3 probe that fails says why beside the form", async () => {
    await openDestination({
      use_s3: () => {
        throw { code: "invalid_input", message: "the secret access key does not match the access key id." };
      },
    });
    await fillS3({ account: "acct", bucket: "shop", "key-id": "KEYID", secret: "wrong" });
    await click("#dest-s3-use");
    await until(() => expect(text("#dest-s3-error")).toContain("the secret access key does not match"));
    expect(text("#dest-s3-error")).toContain("Please check what you entered.");
    expect(text("#dest-s3-result")).toBe("");
  });

  test("remove the destination after confirming", async () => {
    const { backend } = await openDestination({ remove_destination: () => null });
    await click("#dest-remove");
    expect(backend.called("remove_destination")).toHaveLength(0);
    await click("#dest-remove-confirm");
    expect(backend.called("remove_destination")).toHaveLength(1);
  });

  test("helpers", () => {
    expect(crumbPath([{ name: "OneDrive" }])).toBe("/");
    expect(crumbPath([{ name: "OneDrive" }, { name: "Backups" }, { name: "Shop" }])).toBe("/Backups/Shop");
    expect(validFolderName("Shop 2024")).toBe(true);
    expect(validFolderName("a:b")).toBe(false);
    expect(validFolderName("  ")).toBe(false);
  });
});
