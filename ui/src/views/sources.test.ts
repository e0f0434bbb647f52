import { afterEach, describe, expect, test } from "vitest";
import type { SourceRecord } from "../api";
import { $, $$, boot, click, MB, teardown, text, type, until, type Handler } from "../test/harness";
import { parseRetention, validSourceName } from "./sources";

afterEach(teardown);

const shop: SourceRecord = { name: "shop", kind: "sqlite", path: "/data/shop.db", keep_last: 10, keep_days: null, added_at: "2024-05-01T10:00:00Z", options: { exclude: [], include: [], paths: [] } };
const goodCheck = { path: "/data/crm.sqlite", suggested_name: "crm", tables: 12, size_bytes: Math.round(3.1 * MB), journal_mode: "wal" };

async function openSources(handlers: Record<string, Handler> = {}) {
  const r = await boot({ sources: () => [shop], check_source: () => goodCheck, add_source: (a) => ({ ...shop, name: a.name, path: a.path }), ...handlers });
  await click("#nav-sources");
  await until(() => expect($$(".source-row")).toHaveLength(1));
  return r;
}

describe("add a source", () => {
  test("checks the path on change and shows what the file holds", async () => {
    const { backend } = await openSources();
    await type("#source-path", "/data/crm.sqlite");
    await until(() => expect(text("#source-check")).toBe("12 tables, 3.1 MB, WAL"));
    expect(backend.called("check_source")).toEqual([{ path: "/data/crm.sqlite", password: null }]);
    expect(($("#source-name") as HTMLInputElement).value).toBe("crm");
    expect($("#source-check").dataset.errorCode).toBeUndefined();
  });

  test("a PostgreSQL connection string asks for the password apart, tests the connection and says what is left out", async () => {
    const url = "postgresql://postgres.abcd@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";
    const pgCheck = {
      kind: "postgresql", path: `${url}?sslmode=require`, suggested_name: "postgres", tables: 3, size_bytes: 9 * MB, journal_mode: "",
      postgresql: {
        server_version: "15.8", schemas: ["public"], left_out: ["auth", "storage"],
        references: [{ from: "foreign key profiles_id_fkey on public.profiles", to_schema: "auth", to: "auth.users" }],
        not_included: ["foreign table public.rates"],
      },
    };
    const { backend } = await openSources({ check_source: () => pgCheck, add_source: (a) => ({ ...shop, kind: "postgresql", name: a.name, path: pgCheck.path }) });
    expect(($("#source-password-field") as HTMLElement).hidden).toBe(true);
    await type("#source-path", url);
    expect(($("#source-password-field") as HTMLElement).hidden).toBe(false);
    await type("#source-password", "s3cret");
    await click("#source-test");
    await until(() => expect(text("#source-check")).toBe("PostgreSQL 15.8: 3 tables, 9 MB; backs up public"));
    expect(backend.called("check_source").at(-1)).toEqual({ path: url, password: "s3cret" });
    expect(text("#source-check-details")).toContain("Left out: auth, storage");
    expect(text("#source-check-details")).toContain("Not included (Nuage does not capture it): foreign table public.rates");
    expect(text("#source-check-details")).toContain("profiles_id_fkey on public.profiles points at auth.users");
    await type("#source-name", "garage");
    await click("#source-add");
    await until(() => expect(backend.called("add_source")).toEqual([{ path: url, name: "garage", password: "s3cret", exclude: [] }]));
    // The password does not stay in the form.
    await until(() => expect(($("#source-password") as HTMLInputElement).value).toBe(""));
  });

  test("a proposed name arriving while the name field has focus is selected, so typing replaces it", async () => {
    let release: () => void = () => undefined;
    await openSources({ check_source: () => new Promise((ok) => { release = () => ok(goodCheck); }) });
    await type("#source-path", "/data/crm.sqlite");
    const name = $("#source-name") as HTMLInputElement;
    name.focus();
    release();
    await until(() => expect(name.value).toBe("crm"));
    expect([name.selectionStart, name.selectionEnd]).toEqual([0, 3]);
  });

  test("shows the error of a bad path with its code", async () => {
    await openSources({ check_source: () => Promise.reject({ code: "source_unavailable", message: "No such file: /nope.db" }) });
    await type("#source-path", "/nope.db");
    await until(() => expect($("#source-check").dataset.errorCode).toBe("source_unavailable"));
    expect(text("#source-check")).toContain("No such file: /nope.db");
    expect(text("#source-check")).toContain("The database cannot be read.");
    expect($("#source-path").getAttribute("aria-invalid")).toBe("true");
  });

  test("a bad path is not added", async () => {
    const { backend } = await openSources({ check_source: () => Promise.reject({ code: "source_unavailable", message: "Not a database." }) });
    await type("#source-path", "/etc/passwd");
    await type("#source-name", "passwd");
    await click("#source-add");
    expect(backend.called("add_source")).toHaveLength(0);
  });

  test.each(["", ".hidden", "has space", "é-accent", "a/b", "x".repeat(65)])("refuses the name %j", async (name) => {
    const { backend } = await openSources();
    await type("#source-path", "/data/crm.sqlite");
    await until(() => expect(text("#source-check")).toContain("12 tables"));
    await type("#source-name", name);
    await click("#source-add");
    expect(text("#source-name-error")).not.toBe("");
    expect($("#source-name").getAttribute("aria-invalid")).toBe("true");
    expect(backend.called("add_source")).toHaveLength(0);
  });

  test("adds a checked file with its name, then refreshes", async () => {
    const { backend } = await openSources();
    await type("#source-path", "/data/crm.sqlite");
    await type("#source-name", "crm-2024.main_db");
    const sourcesBefore = backend.called("sources").length;
    const overviewBefore = backend.called("overview").length;
    await click("#source-add");
    await until(() => expect(backend.called("add_source")).toEqual([{ path: "/data/crm.sqlite", name: "crm-2024.main_db", password: null, exclude: [] }]));
    await until(() => expect(text("#result")).toContain("crm-2024.main_db added"));
    expect(backend.called("sources").length).toBeGreaterThan(sourcesBefore);
    expect(backend.called("overview").length).toBeGreaterThan(overviewBefore);
    expect(($("#source-path") as HTMLInputElement).value).toBe("");
  });

  test("browse opens the SQLite file dialog, fills the path and checks it", async () => {
    const { backend } = await openSources({ "plugin:dialog|open": () => "/home/ana/crm.sqlite" });
    await click("#source-browse");
    await until(() => expect(text("#source-check")).toBe("12 tables, 3.1 MB, WAL"));
    expect(($("#source-path") as HTMLInputElement).value).toBe("/home/ana/crm.sqlite");
    const opts = backend.called("plugin:dialog|open")[0].options;
    expect(opts.filters[0]).toEqual({ name: "SQLite", extensions: ["db", "sqlite", "sqlite3", "db3"] });
    expect(opts.filters[1].extensions).toEqual(["*"]);
    expect(backend.called("check_source")).toEqual([{ path: "/home/ana/crm.sqlite", password: null }]);
  });

  test("validSourceName", () => {
    expect(validSourceName("shop")).toBe(true);
    expect(validSourceName("a.b-c_d")).toBe(true);
    expect(validSourceName("x".repeat(64))).toBe(true);
    expect(validSourceName("x".repeat(65))).toBe(false);
    expect(validSourceName(".x")).toBe(false);
    expect(validSourceName("")).toBe(false);
  });
});

describe("registered sources", () => {
  test("remove asks first and says restore points are kept", async () => {
    const { backend } = await openSources({ remove_source: () => null });
    const row = $('.source-row[data-name="shop"]');
    await click(row.querySelector<HTMLElement>(".source-remove")!);
    expect(backend.called("remove_source")).toHaveLength(0);
    expect(row.textContent).toContain("Its restore points are kept");
    await click(row.querySelector<HTMLElement>(".source-remove-confirm")!);
    expect(backend.called("remove_source")).toEqual([{ name: "shop" }]);
  });

  test("rename checks the new name, then the list shows it", async () => {
    let name = "shop";
    const { backend } = await openSources({
      sources: () => [{ ...shop, name }],
      rename_source: (a) => {
        name = a.newName as string;
        return { ...shop, name };
      },
    });
    const row = $('.source-row[data-name="shop"]');
    await click(row.querySelector<HTMLElement>(".source-rename")!);
    const input = row.querySelector<HTMLInputElement>(".rename-input")!;
    expect(input.value).toBe("shop");
    expect(document.activeElement).toBe(input);
    input.value = "bad name";
    await click(row.querySelector<HTMLElement>(".rename-save")!);
    expect(row.querySelector(".rename-error")?.textContent).not.toBe("");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(backend.called("rename_source")).toHaveLength(0);
    input.value = " garage ";
    await click(row.querySelector<HTMLElement>(".rename-save")!);
    expect(backend.called("rename_source")).toEqual([{ name: "shop", newName: "garage" }]);
    await until(() => expect($$('.source-row[data-name="garage"]')).toHaveLength(1));
    expect(text("#result")).toContain("garage");
    expect(text("#result")).toContain("next backup");
    expect(document.activeElement).toBe($('.source-row[data-name="garage"] .source-rename'));
  });

  test("Escape closes the rename form and gives focus back", async () => {
    const { backend } = await openSources({ rename_source: () => shop });
    const row = $('.source-row[data-name="shop"]');
    await click(row.querySelector<HTMLElement>(".source-rename")!);
    const form = row.querySelector<HTMLFormElement>(".rename-form")!;
    expect(form.hidden).toBe(false);
    row.querySelector(".rename-input")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(form.hidden).toBe(true);
    expect(document.activeElement).toBe(row.querySelector(".source-rename"));
    expect(backend.called("rename_source")).toHaveLength(0);
  });

  test("a refused rename shows why and keeps the row", async () => {
    await openSources({ rename_source: () => Promise.reject({ code: "busy", message: "A backup is running." }) });
    const row = $('.source-row[data-name="shop"]');
    await click(row.querySelector<HTMLElement>(".source-rename")!);
    row.querySelector<HTMLInputElement>(".rename-input")!.value = "garage";
    await click(row.querySelector<HTMLElement>(".rename-save")!);
    await until(() => expect($("#result").dataset.code).toBe("busy"));
    expect(text("#result")).toContain("A backup is running.");
    expect($$('.source-row[data-name="shop"]')).toHaveLength(1);
  });

  test("retention accepts positive integers or empty", async () => {
    const { backend } = await openSources({ set_retention: () => null });
    const row = $('.source-row[data-name="shop"]');
    const last = row.querySelector<HTMLInputElement>(".keep-last")!;
    const days = row.querySelector<HTMLInputElement>(".keep-days")!;
    expect(last.value).toBe("10");
    last.value = "0";
    await click(row.querySelector<HTMLElement>(".retention-save")!);
    expect(row.querySelector(".retention-error")?.textContent).not.toBe("");
    expect(backend.called("set_retention")).toHaveLength(0);
    last.value = "5";
    days.value = "";
    await click(row.querySelector<HTMLElement>(".retention-save")!);
    expect(backend.called("set_retention")).toEqual([{ name: "shop", keepLast: 5, keepDays: null }]);
    expect(row.querySelector(".retention-error")?.textContent).toBe("");
  });

  test("parseRetention", () => {
    expect(parseRetention("")).toEqual({ ok: true, value: null });
    expect(parseRetention(" 7 ")).toEqual({ ok: true, value: 7 });
    expect(parseRetention("0").ok).toBe(false);
    expect(parseRetention("-1").ok).toBe(false);
    expect(parseRetention("2.5").ok).toBe(false);
  });
});

describe("a folder source", () => {
  test("a folder's check says its files and what is skipped; the patterns to leave out go with it", async () => {
    const folderCheck = {
      kind: "folder", path: "/data/clips", suggested_name: "clips", tables: 27, size_bytes: Math.round(6.3 * MB), journal_mode: "", postgresql: null,
      folder: { files: 27, links: 0, skipped: ["cam.sock: a socket, not a file: skipped"] },
    };
    const { backend } = await openSources({ check_source: () => folderCheck, add_source: (a) => ({ ...shop, kind: "folder", name: a.name, path: "/data/clips" }) });
    expect(($("#source-exclude-field") as HTMLElement).hidden).toBe(true);
    await type("#source-path", "/data/clips");
    await until(() => expect(text("#source-check")).toBe("Folder: 27 files, 6.3 MB"));
    expect(text("#source-check-details")).toContain("Skipped: cam.sock: a socket");
    expect(($("#source-exclude-field") as HTMLElement).hidden).toBe(false);
    await type("#source-exclude", "*.tmp, cache ,");
    await click("#source-add");
    await until(() => expect(backend.called("add_source")).toEqual([{ path: "/data/clips", name: "clips", password: null, exclude: ["*.tmp", "cache"] }]));
  });
});
