import { Channel } from "@tauri-apps/api/core";
import { afterEach, describe, expect, test } from "vitest";
import type { EngineEvent, Preview, RestoreReport } from "../api";
import { $, $$, boot, check, click, deferred, MB, overview, point, sendOnChannel, sourceStatus, teardown, text, type, until, type Handler } from "../test/harness";
import { pointStatus, restoredPath } from "./restore";

afterEach(teardown);

const points = [
  point({ id: "old", created_at: "2024-05-01T08:00:00Z", location: "local", upload: null }),
  point({ id: "new", created_at: "2024-05-03T08:00:00Z", location: "both", upload: "verified" }),
  point({ id: "mid", created_at: "2024-05-02T08:00:00Z", location: "local", upload: "pending" }),
  point({ id: "far", created_at: "2024-04-01T08:00:00Z", location: "remote", upload: "verified" }),
];

const preview: Preview = {
  source: "shop",
  kind: "sqlite",
  created_at: "2024-05-03T08:00:00Z",
  tables: [
    ["orders", 48000],
    ["customers", 210],
  ],
  rows: 48210,
  replaces: "/data/shop.db",
  safety_copy: true,
};

const report: RestoreReport = {
  target: "/data/shop.db",
  source: "shop",
  kind: "sqlite",
  created_at: "2024-05-03T08:00:00Z",
  tables: preview.tables,
  rows: 48210,
  safety_point: "safe-1",
  safety_file: null,
  not_restored: [],
  copy: "local",
};

async function openRestore(handlers: Record<string, Handler> = {}) {
  const r = await boot({ restore_points: () => ({ points, unreachable: null }), preview: () => preview, restore: (a) => ({ ...report, target: a.to ?? report.target }), ...handlers });
  await click("#nav-restore");
  await until(() => expect($$(".point-row")).toHaveLength(4));
  return r;
}

function row(id: string): HTMLElement {
  return $(`.point-row[data-id="${id}"]`);
}

describe("restore points", () => {
  test("newest first, with translated location and upload status", async () => {
    await openRestore();
    expect($$(".point-row").map((r) => r.dataset.id)).toEqual(["new", "mid", "old", "far"]);
    expect(row("new").textContent).toContain("At the destination, verified");
    expect(row("mid").textContent).toContain("Upload pending");
    expect(row("old").textContent).toContain("On this computer only");
    expect(row("far").textContent).toContain("Only at the destination");
    expect(row("new").textContent).toContain("12 tables · 48,210 rows · 3.1 MB");
  });

  test("a destination out of reach: the local points, and why the list may be partial", async () => {
    await openRestore({ restore_points: () => ({ points, unreachable: { code: "offline", message: "No connection to OneDrive." } }) });
    await until(() => expect($("#points-partial").dataset.code).toBe("offline"));
    expect(text("#points-partial")).toContain("only at the destination are not listed");
    expect(text("#points-partial")).toContain("No connection to OneDrive.");
    expect($$(".point-row")).toHaveLength(4);
  });

  test("the filter asks for one source", async () => {
    const { backend } = await openRestore();
    const sel = $("#restore-filter") as HTMLSelectElement;
    sel.value = "shop";
    sel.dispatchEvent(new Event("change"));
    await until(() => expect(backend.called("restore_points").at(-1)).toEqual({ source: "shop" }));
    expect(backend.called("restore_points")[0]).toEqual({ source: null });
  });

  test("restore shows the preview: tables, rows, what is replaced, the safety copy", async () => {
    const { backend } = await openRestore();
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    expect(backend.called("preview")).toEqual([{ backup: { point: "new" } }]);
    const p = $("#preview");
    expect(p.textContent).toContain("orders");
    expect(p.textContent).toContain("48,000");
    expect(text("#preview .preview-total")).toBe("48,210");
    expect(p.textContent).toContain("Restoring in place replaces /data/shop.db.");
    expect(p.textContent).toContain("A safety copy of its current contents is taken first.");
    expect(($("#restore-to") as HTMLInputElement).value).toBe("/data/shop-restored-2024-05-03.db");
  });

  test("replacing in place needs #restore-ack", async () => {
    const { backend } = await openRestore();
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    await check("#restore-mode-replace");
    const confirm = $("#restore-confirm") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await click(confirm);
    expect(backend.called("restore")).toHaveLength(0);
    await check("#restore-ack");
    expect(confirm.disabled).toBe(false);
    await click(confirm);
    await until(() => expect(backend.called("restore")).toEqual([{ backup: { point: "new" }, to: null, progress: expect.any(Channel), paths: [] }]));
    await until(() => expect($("#result").dataset.kind).toBe("success"));
    expect(text("#result")).toContain("Restored shop");
    expect(text("#result")).toContain("restore point safe-1");
  });

  test("ticking #restore-ack chooses to replace; choosing a new file clears it", async () => {
    const { backend } = await openRestore();
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    expect(($("#restore-mode-new") as HTMLInputElement).checked).toBe(true);
    await check("#restore-ack");
    expect(($("#restore-mode-replace") as HTMLInputElement).checked).toBe(true);
    await check("#restore-mode-new");
    expect(($("#restore-ack") as HTMLInputElement).checked).toBe(false);
    await check("#restore-mode-replace");
    expect(($("#restore-confirm") as HTMLButtonElement).disabled).toBe(true);
    await check("#restore-ack");
    await click("#restore-confirm");
    await until(() => expect(backend.called("restore")).toEqual([{ backup: { point: "new" }, to: null, progress: expect.any(Channel), paths: [] }]));
  });

  test("restore into a new file sends the path", async () => {
    const { backend } = await openRestore({ "plugin:dialog|save": () => "/home/ana/copy.db" });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    await click("#restore-to-browse");
    expect(($("#restore-to") as HTMLInputElement).value).toBe("/home/ana/copy.db");
    await click("#restore-confirm");
    await until(() => expect(backend.called("restore")).toEqual([{ backup: { point: "new" }, to: "/home/ana/copy.db", progress: expect.any(Channel), paths: [] }]));
    await until(() => expect(text("#result")).toContain("/home/ana/copy.db"));
  });

  test("the restore's progress arrives on its channel and is shown", async () => {
    const done = deferred<RestoreReport>();
    const { backend } = await openRestore({ restore: () => done.promise });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    await click("#restore-confirm");
    await until(() => expect(backend.called("restore")).toHaveLength(1));
    expect(text("#restore-status")).toBe("Restoring…");
    const channel = backend.called("restore")[0].progress as Channel<EngineEvent>;
    await sendOnChannel<EngineEvent>(channel, { event: "restore_progress", table: "customers", rows: 210 });
    expect(text("#restore-status")).toBe("Restoring table customers: 210 rows");
    await sendOnChannel<EngineEvent>(channel, { event: "restore_progress", table: "orders", rows: 48000 });
    expect(text("#restore-status")).toBe("Restoring table orders: 48,000 rows");
    // Progress comes only from the channel: a global event of that kind is not the restore's.
    const { event } = await import("../test/harness");
    await event({ event: "restore_progress", table: "elsewhere", rows: 1 });
    expect(text("#restore-status")).toBe("Restoring table orders: 48,000 rows");
    done.resolve({ ...report, target: "/data/shop-restored-2024-05-03.db" });
    await until(() => expect($("#result").dataset.kind).toBe("success"));
    expect(document.querySelector("#preview")).toBeNull();
  });

  test("a preview in progress can be cancelled: nothing changed, said as information", async () => {
    const reading = deferred<Preview>();
    const { backend } = await openRestore({ preview: () => reading.promise, cancel_restore: () => null });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await click("#preview-stop");
    expect(backend.called("cancel_restore")).toHaveLength(1);
    reading.reject({ code: "cancelled", message: "cancelled: nothing was changed." });
    await until(() => expect($("#result").dataset.kind).toBe("info"));
    expect(text("#result")).toBe("Cancelled: nothing was changed.");
  });

  test("a restore in progress can be cancelled", async () => {
    const restoring = deferred<RestoreReport>();
    const { backend } = await openRestore({ restore: () => restoring.promise, cancel_restore: () => null });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    await click("#restore-confirm");
    await click("#restore-stop");
    expect(backend.called("cancel_restore")).toHaveLength(1);
    restoring.reject({ code: "cancelled", message: "cancelled: nothing was changed." });
    await until(() => expect($("#result").dataset.kind).toBe("info"));
    await until(() => expect(document.querySelector("#restore-stop")).toBeNull());
    expect($("#preview")).toBeTruthy();
  });

  test("a failed restore is shown as an error", async () => {
    await openRestore({ restore: () => Promise.reject({ code: "busy", message: "A backup is running." }) });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    await click("#restore-confirm");
    await until(() => expect($("#result").dataset.kind).toBe("error"));
    expect(text("#result")).toBe("Nuage is busy. A backup is running.");
    expect($("#preview")).toBeTruthy();
  });

  test("no replace choice when the backup is not from a registered source", async () => {
    await openRestore({ preview: () => ({ ...preview, replaces: null, safety_copy: false }) });
    await click(row("new").querySelector<HTMLElement>(".point-restore")!);
    await until(() => expect($("#preview")).toBeTruthy());
    expect(document.querySelector("#restore-mode-replace")).toBeNull();
    expect(document.querySelector("#restore-ack")).toBeNull();
    expect(($("#restore-to") as HTMLInputElement).value).toBe("");
  });

  test("export is prefilled and sends the chosen path", async () => {
    const { backend } = await openRestore({ export_point: () => 2 * MB, "plugin:dialog|save": () => "/home/ana/shop.json" });
    await click(row("old").querySelector<HTMLElement>(".point-export")!);
    expect(($("#export-path") as HTMLInputElement).value).toMatch(/^shop-2024-05-0[12]\.json$/);
    await click("#export-browse");
    const opts = backend.called("plugin:dialog|save")[0].options;
    expect(opts.filters).toEqual([{ name: "JSON", extensions: ["json"] }]);
    expect(opts.defaultPath).toMatch(/^shop-2024-05-0[12]\.json$/);
    expect(($("#export-path") as HTMLInputElement).value).toBe("/home/ana/shop.json");
    await click("#export-confirm");
    await until(() => expect(backend.called("export_point")).toEqual([{ point: "old", file: "/home/ana/shop.json" }]));
    await until(() => expect(text("#result")).toBe("Exported to /home/ana/shop.json (2 MB)."));
  });

  test("export of a typed path", async () => {
    const { backend } = await openRestore({ export_point: () => 10 });
    await click(row("new").querySelector<HTMLElement>(".point-export")!);
    await type("#export-path", "/tmp/x.json");
    await click("#export-confirm");
    expect(backend.called("export_point")).toEqual([{ point: "new", file: "/tmp/x.json" }]);
  });

  test("import previews a file and restores it", async () => {
    const { backend } = await openRestore({ "plugin:dialog|open": () => "/home/ana/shop.json.zst" });
    await click("#import-browse");
    const opts = backend.called("plugin:dialog|open")[0].options;
    expect(opts.filters[0].extensions).toEqual(["json", "zst"]);
    expect(($("#import-path") as HTMLInputElement).value).toBe("/home/ana/shop.json.zst");
    await click("#import-preview");
    await until(() => expect($("#preview")).toBeTruthy());
    expect(backend.called("preview")).toEqual([{ backup: { file: "/home/ana/shop.json.zst" } }]);
    await check("#restore-mode-replace");
    await check("#restore-ack");
    await click("#restore-confirm");
    await until(() => expect(backend.called("restore")).toEqual([{ backup: { file: "/home/ana/shop.json.zst" }, to: null, progress: expect.any(Channel), paths: [] }]));
  });

  test("the list is fetched again when a run finishes", async () => {
    const { backend } = await openRestore();
    const before = backend.called("restore_points").length;
    const { event } = await import("../test/harness");
    await event({ event: "run_finished", failed: 0 });
    await until(() => expect(backend.called("restore_points").length).toBeGreaterThan(before));
  });

  test("helpers", () => {
    expect(pointStatus(point({ location: "remote", upload: "verified" }))).toBe("remote");
    expect(pointStatus(point({ location: "both", upload: "pending" }))).toBe("pending");
    // A lost local copy with no verified copy at the destination is never shown as safe.
    expect(pointStatus(point({ location: "missing", upload: "pending" }))).toBe("missing");
    expect(pointStatus(point({ location: "missing", upload: null }))).toBe("missing");
    expect(restoredPath("/a/b/shop.db", "2024-05-03")).toBe("/a/b/shop-restored-2024-05-03.db");
    expect(restoredPath("C:\\data\\crm", "2024-05-03")).toBe("C:\\data\\crm-restored-2024-05-03.db");
  });
});

describe("a folder's restore points", () => {
  const folderPoints = [
    point({ id: "f2", source: "clips", created_at: "2024-05-03T08:00:00Z", tables: 27, rows: Math.round(6.3 * MB), changes: { added: 1, changed: 2, removed: 0, moved: 1 } }),
    point({ id: "f1", source: "clips", created_at: "2024-05-02T08:00:00Z", tables: 26, rows: Math.round(6.1 * MB), missing_files: 3, proven: { at: "2024-05-04T09:00:00Z", place: "destination" } }),
  ];
  const folderPreview: Preview = {
    source: "clips",
    kind: "folder",
    created_at: "2024-05-03T08:00:00Z",
    tables: Array.from({ length: 250 }, (_, i) => [`jobs/job-${i}.json`, 300] as [string, number]),
    rows: 75000,
    replaces: "/data/clips",
    safety_copy: true,
  };

  test("list files, size and what changed; the preview lists files; one file can be restored into a new folder", async () => {
    const { backend } = await boot({
      overview: () => overview({ sources: [sourceStatus({ name: "clips", kind: "folder", path: "/data/clips" })] }),
      restore_points: () => ({ points: folderPoints, unreachable: null }),
      preview: () => folderPreview,
      restore: (a) => ({ ...report, kind: "folder", source: "clips", target: a.to, tables: [["jobs/job-1.json", 300]], rows: 300 }),
    });
    await click("#nav-restore");
    await until(() => expect($$(".point-row")).toHaveLength(2));
    expect(row("f2").textContent).toContain("27 files · 6.3 MB · 1 added, 2 changed, 0 removed, 1 moved");
    expect(row("f2").textContent).not.toContain("cannot be restored whole");
    expect(row("f1").textContent).toContain("cannot be restored whole: no copy of 3 files as they were is kept");
    expect(row("f1").textContent).toContain("proven restorable from the destination on");
    expect(row("f2").textContent).not.toContain("proven restorable");
    await click('.point-row[data-id="f2"] .point-restore');
    await until(() => expect($("#preview")).toBeTruthy());
    expect(text("#preview")).toContain("File");
    expect(text("#preview")).toContain("jobs/job-1.json");
    expect(text("#preview")).toContain("…and 50 more files.");
    expect(text("#preview")).toContain("250 files");
    expect(($("#restore-to") as HTMLInputElement).value).toBe("/data/clips-restored-2024-05-03");
    await type("#restore-only", "jobs/job-1.json");
    await click("#restore-confirm");
    await until(() =>
      expect(backend.called("restore")).toEqual([{ backup: { point: "f2" }, to: "/data/clips-restored-2024-05-03", progress: expect.any(Channel), paths: ["jobs/job-1.json"] }]),
    );
    await until(() => expect(document.body.textContent).toContain("(1 file)"));
  });
});
