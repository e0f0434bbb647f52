import { afterEach, describe, expect, test } from "vitest";
import type { Action, AppState, ErrorCode } from "../api";
import { $, $$, boot, click, event, MB, overview, point, settings, sourceStatus, teardown, text, until } from "../test/harness";

afterEach(teardown);

const STATES: [AppState, string, string][] = [
  ["up_to_date", "Up to date", "À jour"],
  ["backing_up", "Backing up", "Sauvegarde en cours"],
  ["waiting", "Waiting to upload", "En attente d'envoi"],
  ["needs_attention", "Needs attention", "Action requise"],
  ["signed_out", "Signed out", "Déconnecté"],
  ["paused", "Paused", "En pause"],
  ["not_set_up", "Not set up yet", "Pas encore configuré"],
];

describe("state badge", () => {
  test.each(STATES)("%s shows its data-state and English name", async (state, en) => {
    await boot({ overview: () => overview({ state }) });
    const badge = $("#state-badge");
    expect(badge.dataset.state).toBe(state);
    expect(text("#state-badge")).toBe(en);
    expect(badge.querySelector(".badge-icon")?.getAttribute("aria-hidden")).toBe("true");
  });

  test.each(STATES)("%s is named in French when the language is French", async (state, _en, fr) => {
    await boot({ overview: () => overview({ state }), settings: () => settings({ language: "fr" }) });
    expect($("#state-badge").dataset.state).toBe(state);
    expect(text("#state-badge")).toBe(fr);
  });

  test("follows state_changed events, whose overview is used without fetching it again", async () => {
    const { backend } = await boot({ overview: () => overview({ tray_available: false }) });
    const before = backend.calls.length;
    const { tray_available: _, ...pushed } = overview({
      state: "backing_up",
      summary: "backing up shop",
      running: [{ source: "shop", table: "orders", rows: 1200, bytes: null, total: null, bytes_per_sec: null, eta_secs: null }],
    });
    await event({ event: "state_changed", overview: pushed });
    await until(() => expect($("#state-badge").dataset.state).toBe("backing_up"));
    expect(text("#state-badge")).toBe("Backing up");
    expect(($("#back-up-now") as HTMLButtonElement).disabled).toBe(true);
    expect($('.source-card[data-name="shop"] .source-progress').textContent).toContain("1,200");
    // Not one more command: the event carried everything.
    expect(backend.calls.slice(before).map((c) => c.cmd)).toEqual([]);
    // What only the shell knows (no tray) is kept from the fetched overview.
    expect($("#no-tray")).toBeTruthy();
  });

  test("an overview fetched before a state_changed event does not undo it", async () => {
    let release: (() => void) | null = null;
    let slow = false;
    const { app } = await boot({
      overview: () => (slow ? new Promise((r) => (release = () => r(overview({ state: "backing_up" })))) : overview()),
    });
    slow = true;
    const refresh = app.ctx.refreshOverview();
    const { tray_available: _, ...pushed } = overview({ state: "up_to_date", summary: "up to date" });
    await event({ event: "state_changed", overview: pushed });
    expect($("#state-badge").dataset.state).toBe("up_to_date");
    release!();
    await refresh;
    expect($("#state-badge").dataset.state).toBe("up_to_date");
  });

  test("pause toggle pauses, then offers to resume", async () => {
    let paused = false;
    const { backend } = await boot({
      overview: () => overview({ paused, state: paused ? "paused" : "up_to_date" }),
      pause: () => {
        paused = true;
        return null;
      },
    });
    expect(text("#pause-toggle")).toBe("Pause");
    await click("#pause-toggle");
    await until(() => expect(text("#pause-toggle")).toBe("Resume"));
    expect(backend.called("pause")).toHaveLength(1);
    expect($("#state-badge").dataset.state).toBe("paused");
  });
});

describe("problem", () => {
  function withProblem(action: Action, code: ErrorCode = "offline") {
    return () => overview({ state: "needs_attention", problem: { code, message: "Details in English.", action, source: "shop" } });
  }

  test("shows the translated headline, the message and one action", async () => {
    await boot({ overview: withProblem("retry", "offline") });
    const p = $("#problem");
    expect(p.dataset.code).toBe("offline");
    expect(p.textContent).toContain("No connection to the internet or the destination.");
    expect(p.textContent).toContain("Details in English.");
    expect($$("#problem-action")).toHaveLength(1);
    expect($("#problem-action").dataset.action).toBe("retry");
  });

  test("an unknown code gets the generic headline", async () => {
    // A newer shell may send a code this UI does not know yet.
    await boot({ overview: withProblem("retry", "something_new" as ErrorCode) });
    expect(text("#problem .problem-title")).toBe("Something needs your attention.");
  });

  test("retry calls back_up_now", async () => {
    const { backend } = await boot({ overview: withProblem("retry"), back_up_now: () => null });
    await click("#problem-action");
    expect(backend.called("back_up_now")).toHaveLength(1);
  });

  test("sign_in opens the sign-in dialog", async () => {
    const { backend } = await boot({
      overview: withProblem("sign_in", "sign_in_required"),
      sign_in_start: () => ({ user_code: "ABCD-1234", verification_uri: "https://microsoft.com/devicelogin", expires_at: new Date(Date.now() + 900_000).toISOString(), message: "" }),
      sign_in_wait: () => new Promise(() => undefined),
    });
    expect(text("#problem .problem-title")).toBe("Sign-in required.");
    await click("#problem-action");
    expect($("#sign-in-dialog")).toBeTruthy();
    await until(() => expect(text("#user-code")).toBe("ABCD-1234"));
    expect(backend.called("sign_in_start")).toHaveLength(1);
  });

  test("choose_folder goes to the destination view", async () => {
    await boot({ overview: withProblem("choose_folder", "not_found") });
    await click("#problem-action");
    expect($("#view-destination")).toBeTruthy();
    expect($("#nav-destination").getAttribute("aria-current")).toBe("page");
  });

  test.each(["add_source", "check_source"] as Action[])("%s goes to the sources view", async (action) => {
    await boot({ overview: withProblem(action, "source_unavailable") });
    await click("#problem-action");
    expect($("#view-sources")).toBeTruthy();
  });

  test("stale gets its headline", async () => {
    await boot({ overview: withProblem("retry", "stale") });
    expect(text("#problem .problem-title")).toBe("Backups are overdue.");
  });

  test("paused: resume calls resume", async () => {
    const { backend } = await boot({
      overview: () =>
        overview({
          state: "paused",
          paused: true,
          problem: { code: "failed", message: "Scheduled backups are paused. Resume them to keep your data safe.", action: "resume", source: null },
        }),
      resume: () => null,
    });
    expect($("#problem").textContent).toContain("Scheduled backups are paused.");
    expect($("#problem-action").dataset.action).toBe("resume");
    expect(text("#problem-action")).toBe("Resume backups");
    await click("#problem-action");
    expect(backend.called("resume")).toHaveLength(1);
    await until(() => expect(text("#result")).toBe("Backups have resumed."));
  });

  test("every code has its own headline", async () => {
    const { headline } = await import("../errors");
    expect(headline("hash_mismatch")).toBe("A copy at the destination does not match the one on this computer.");
    expect(headline("io")).toBe("A file could not be read or written.");
    expect(headline("no_destination")).toBe("Copies stay on this computer only.");
  });

  test("a clock that went back has no button, only the message", async () => {
    await boot({ overview: withProblem("check_clock", "clock_changed") });
    expect($("#problem").textContent).toContain("The computer's clock went back.");
    expect(document.querySelector("#problem-action")).toBeNull();
  });

  test("free_space has no button, only the message", async () => {
    await boot({ overview: withProblem("free_space", "disk_full") });
    expect($("#problem").textContent).toContain("Details in English.");
    expect(document.querySelector("#problem-action")).toBeNull();
  });
});

describe("overview", () => {
  test("a source card shows the last verified backup line", async () => {
    await boot();
    const card = $('.source-card[data-name="shop"]');
    const line = card.querySelector(".source-last")?.textContent ?? "";
    expect(line).toContain("2 hours ago · 12 tables · 48,210 rows · 3.1 MB");
    expect(card.textContent).toContain("/data/shop.db");
    expect(card.querySelector(".source-pending")).toBeNull();
  });

  test("when a source was last proven restorable, and from where", async () => {
    const at = new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString();
    await boot({ overview: () => overview({ sources: [sourceStatus({ last_proven: { at, place: "destination" } }), sourceStatus({ name: "docs" })] }) });
    expect($('.source-card[data-name="shop"] .source-proven').textContent).toBe("Proven restorable from the destination 3 days ago");
    expect($('.source-card[data-name="docs"]').querySelector(".source-proven")).toBeNull();
  });

  test("pending uploads and the lack of a verified backup are shown", async () => {
    await boot({ overview: () => overview({ sources: [sourceStatus({ last_verified: null, uploads_pending: 2 })] }) });
    const card = $('.source-card[data-name="shop"]');
    expect(card.querySelector(".source-last")?.textContent).toBe("No verified backup yet");
    expect(card.querySelector(".source-pending")?.textContent).toBe("2 uploads pending");
  });

  test("tray_available false shows #no-tray, true does not", async () => {
    await boot({ overview: () => overview({ tray_available: false }) });
    expect(text("#no-tray")).toContain("runs only while its window is open");
    teardown();
    await boot();
    expect(document.querySelector("#no-tray")).toBeNull();
  });

  test("not signed in shows a sign-in button", async () => {
    const { backend } = await boot({ overview: () => overview({ signed_in: null, state: "signed_out" }) });
    expect(text("#account-name")).toBe("Not signed in");
    expect($("#sign-in")).toBeTruthy();
    expect(document.querySelector("#sign-out")).toBeNull();
    expect(backend.called("account")).toHaveLength(0);
  });

  test("signed in: the account's drive and quota are fetched lazily", async () => {
    const { backend } = await boot();
    expect(text("#account-name")).toContain("ana@example.com");
    await until(() => expect(text("#account-details")).toBe("OneDrive (personal) · 1.2 GB of 5 GB used"));
    expect(backend.called("account")).toHaveLength(1);
    expect($("#sign-out")).toBeTruthy();
  });

  test("an account() failure is shown inline, not fatal", async () => {
    await boot({ account: () => Promise.reject({ code: "offline", message: "Cannot reach Microsoft." }) });
    await until(() => expect(text("#account-details")).toContain("Cannot reach Microsoft."));
    expect($("#account-details").classList.contains("inline-error")).toBe(true);
    expect($('.source-card[data-name="shop"]')).toBeTruthy();
  });

  test("destination summary and schedule", async () => {
    const next = new Date();
    next.setHours(23, 59, 0, 0);
    await boot({ overview: () => overview({ next_run: next.toISOString() }) });
    expect(text("#dest-summary")).toBe("OneDrive: OneDrive folder /Backups");
    expect(text("#next-run")).toMatch(/^Next backup: today /);
  });

  test("schedule off", async () => {
    await boot({ overview: () => overview({ schedule: "off", destination: null }) });
    expect(text("#next-run")).toMatch(/^Schedule off/);
    expect(text("#dest-summary")).toMatch(/^No destination yet/);
  });

  test("back up now calls back_up_now; disabled while backing up", async () => {
    const { backend } = await boot({ back_up_now: () => null });
    expect(($("#back-up-now") as HTMLButtonElement).disabled).toBe(false);
    await click("#back-up-now");
    expect(backend.called("back_up_now")).toHaveLength(1);
    teardown();
    await boot({ overview: () => overview({ state: "backing_up" }) });
    expect(($("#back-up-now") as HTMLButtonElement).disabled).toBe(true);
  });

  test("ui_ready is sent once, after the first render", async () => {
    const { backend, app } = await boot();
    expect(backend.called("ui_ready")).toHaveLength(1);
    await app.ctx.refreshOverview();
    await click("#nav-sources");
    await click("#nav-overview");
    expect(backend.called("ui_ready")).toHaveLength(1);
  });

  test("progress events update the card without fetching the overview", async () => {
    const { backend } = await boot({
      overview: () => overview({ state: "backing_up", running: [{ source: "shop", table: null, rows: 0, bytes: null, total: null, bytes_per_sec: null, eta_secs: null }] }),
    });
    const before = backend.called("overview").length;
    await event({ event: "snapshot_progress", source: "shop", table: "orders", rows: 1200 });
    const box = $('.source-card[data-name="shop"] .source-progress');
    expect(box.hidden).toBe(false);
    expect(box.textContent).toContain("orders");
    expect(box.textContent).toContain("1,200");
    await event({ event: "upload_progress", source: "shop", point: "p2", bytes: 1 * MB, total: 4 * MB, bytes_per_sec: 2 * MB, eta_secs: 90 });
    const bar = $('.source-card[data-name="shop"] progress') as HTMLProgressElement;
    expect(bar.value).toBe(1 * MB);
    expect(bar.max).toBe(4 * MB);
    // Bytes, rate and time left.
    const line = $('.source-card[data-name="shop"] .progress-upload').textContent ?? "";
    expect(line).toContain("1 MB");
    expect(line).toContain("2 MB/s");
    expect(line).toContain("1 min 30 s left");
    expect(backend.called("overview").length).toBe(before);
  });

  test("the end of a run: the state_changed that follows updates the cards, nothing is fetched", async () => {
    const { backend } = await boot({
      overview: () => overview({ state: "backing_up", running: [{ source: "shop", table: "orders", rows: 10, bytes: null, total: null, bytes_per_sec: null, eta_secs: null }] }),
    });
    const fetched = backend.called("overview").length;
    expect($('.source-card[data-name="shop"] .source-progress').hidden).toBe(false);
    await event({
      event: "source_finished",
      outcome: { source: "shop", kind: "sqlite", status: "backed_up", id: "p2", size_bytes: 1, tables: 1, rows: 1, error: null, error_code: null, removed_by_retention: [], unsettled: 0, upload: null },
    });
    await event({ event: "run_finished", failed: 0 });
    const { tray_available: _, ...pushed } = overview({ sources: [sourceStatus({ last_verified: point({ rows: 1 }) })] });
    await event({ event: "state_changed", overview: pushed });
    await until(() => expect($(".source-last").textContent).toContain("1 row ·"));
    expect($('.source-card[data-name="shop"] .source-progress').hidden).toBe(true);
    expect($("#state-badge").dataset.state).toBe("up_to_date");
    expect(backend.called("overview")).toHaveLength(fetched);
  });

  test("an overview failure is shown with a retry", async () => {
    let fail = true;
    await boot({ overview: () => (fail ? Promise.reject({ code: "busy", message: "Try again in a moment." }) : overview()) });
    expect($("#view-overview").textContent).toContain("Try again in a moment.");
    fail = false;
    await click("#overview-retry");
    await until(() => expect($('.source-card[data-name="shop"]')).toBeTruthy());
  });
});

describe("first start: the setup checklist", () => {
  const nothing = () =>
    overview({
      state: "not_set_up",
      summary: "not set up: add what to back up.",
      problem: { code: "no_sources", message: "Nothing is backed up yet. Add the data of an application: a database file.", action: "add_source", source: null },
      setup: { source: false, destination: false, signed_in: null },
      signed_in: null,
      destination: null,
      next_run: null,
      last_verified_at: null,
      sources: [],
    });

  function steps() {
    return $$("#setup .setup-step").map((li) => [li.dataset.step, li.dataset.done]);
  }

  test("nothing set up: calm steps, the first one to do, no alarm and no next backup", async () => {
    await boot({ overview: nothing });
    expect($("#state-badge").dataset.state).toBe("not_set_up");
    expect(text("#state-badge")).toBe("Not set up yet");
    expect(text("#setup-title")).toBe("Let’s set up your backups");
    expect(document.querySelector("#problem")).toBeNull();
    // No OneDrive destination yet: no sign-in step.
    expect(steps()).toEqual([
      ["source", "false"],
      ["destination", "false"],
    ]);
    expect($("#setup").dataset.next).toBe("source");
    expect($('.setup-step[data-step="source"]').getAttribute("aria-current")).toBe("step");
    expect($('.setup-step[data-step="destination"]').hasAttribute("aria-current")).toBe(false);
    expect(text("#setup-add-source")).toBe("Add a database");
    expect($("#setup-add-source").classList.contains("btn-secondary")).toBe(false);
    expect($("#setup-choose-destination").classList.contains("btn-secondary")).toBe(true);
    // Nothing to back up: no next run, nothing to start.
    expect($("#view-overview").textContent).not.toContain("Next backup");
    expect(document.querySelector("#next-run")).toBeNull();
    expect(document.querySelector("#back-up-now")).toBeNull();
    // Signing in stays at hand (OneDrive needs it before a folder can be picked).
    expect($("#sign-in")).toBeTruthy();
  });

  test("each step's button goes where it is done", async () => {
    await boot({ overview: nothing });
    await click("#setup-add-source");
    expect($("#view-sources")).toBeTruthy();
    expect($("#nav-sources").getAttribute("aria-current")).toBe("page");
    await click("#nav-overview");
    await click("#setup-choose-destination");
    expect($("#view-destination")).toBeTruthy();
    expect($("#nav-destination").getAttribute("aria-current")).toBe("page");
  });

  test("a database added: its step is ticked, the destination is next", async () => {
    const next = new Date();
    next.setHours(23, 59, 0, 0);
    await boot({
      overview: () =>
        overview({
          state: "not_set_up",
          problem: { code: "no_destination", message: "Copies are kept on this computer only.", action: "choose_folder", source: null },
          setup: { source: true, destination: false, signed_in: null },
          signed_in: null,
          destination: null,
          next_run: next.toISOString(),
          sources: [sourceStatus({ last_backup: null, last_verified: null, restore_points: 0 })],
        }),
    });
    expect(steps()).toEqual([
      ["source", "true"],
      ["destination", "false"],
    ]);
    const done = $('.setup-step[data-step="source"]');
    expect(done.textContent).toContain("Done");
    expect(done.textContent).toContain("Sources: shop");
    expect(done.querySelector("button")).toBeNull();
    expect(document.querySelector("#setup-add-source")).toBeNull();
    expect($("#setup").dataset.next).toBe("destination");
    expect($("#setup-choose-destination").classList.contains("btn-secondary")).toBe(false);
    expect($('.setup-step[data-step="destination"]').textContent).toContain("copies stay on this computer only");
    // Copies are already made on this computer: the schedule and the card show.
    expect(text("#next-run")).toMatch(/^Next backup: today /);
    expect($('.source-card[data-name="shop"]')).toBeTruthy();
    await click("#setup-choose-destination");
    expect($("#view-destination")).toBeTruthy();
  });

  test("a OneDrive destination adds the sign-in step, which opens the sign-in dialog", async () => {
    const { backend } = await boot({
      overview: () =>
        overview({
          state: "not_set_up",
          problem: { code: "no_sources", message: "Nothing is backed up yet.", action: "add_source", source: null },
          setup: { source: false, destination: true, signed_in: false },
          signed_in: null,
          destination: { kind: "onedrive", label: "OneDrive folder /Backups" },
          next_run: null,
          sources: [],
        }),
      sign_in_start: () => new Promise(() => undefined),
    });
    expect(steps()).toEqual([
      ["source", "false"],
      ["destination", "true"],
      ["signed_in", "false"],
    ]);
    expect($('.setup-step[data-step="destination"]').textContent).toContain("OneDrive: OneDrive folder /Backups");
    expect($("#setup").dataset.next).toBe("source");
    expect($("#setup-sign-in").classList.contains("btn-secondary")).toBe(true);
    expect($("#view-overview").textContent).not.toContain("Next backup");
    await click("#setup-sign-in");
    expect($("#sign-in-dialog")).toBeTruthy();
    expect(backend.called("sign_in_start")).toHaveLength(1);
  });

  test("signed in: that step is ticked too", async () => {
    await boot({
      overview: () =>
        overview({
          state: "not_set_up",
          problem: { code: "no_sources", message: "Nothing is backed up yet.", action: "add_source", source: null },
          setup: { source: false, destination: true, signed_in: true },
          next_run: null,
          sources: [],
        }),
    });
    expect(steps()).toEqual([
      ["source", "false"],
      ["destination", "true"],
      ["signed_in", "true"],
    ]);
    expect($('.setup-step[data-step="signed_in"]').textContent).toContain("Signed in as ana@example.com");
    expect(document.querySelector("#setup-sign-in")).toBeNull();
  });

  test("once set up (state_changed), the checklist gives way to the overview", async () => {
    await boot({ overview: nothing });
    const { tray_available: _, ...pushed } = overview({ state: "waiting", summary: "waiting for the first backup.", sources: [sourceStatus({ last_backup: null, last_verified: null })] });
    await event({ event: "state_changed", overview: pushed });
    expect($("#state-badge").dataset.state).toBe("waiting");
    expect(document.querySelector("#setup")).toBeNull();
    expect($("#back-up-now")).toBeTruthy();
    expect($('.source-card[data-name="shop"]')).toBeTruthy();
  });

  test("in French and Portuguese", async () => {
    await boot({ overview: nothing, settings: () => settings({ language: "fr" }) });
    expect(text("#state-badge")).toBe("Pas encore configuré");
    expect(text("#setup-title")).toBe("Configurons vos sauvegardes");
    expect(text("#setup-add-source")).toBe("Ajouter une base de données");
    teardown();
    await boot({ overview: nothing, settings: () => settings({ language: "pt" }) });
    expect(text("#state-badge")).toBe("Ainda não configurado");
    expect(text('.setup-step[data-step="destination"] .setup-label')).toBe("Escolher para onde vão as cópias");
  });
});

describe("the keychain cannot be opened", () => {
  const locked = () =>
    overview({
      state: "needs_attention",
      summary: "needs attention: The keychain is locked; unlock it and try again.",
      problem: { code: "keychain_unavailable", message: "The keychain is locked; unlock it and try again.", action: "unlock_keychain", source: null },
      signed_in: null,
    });

  test("says what to do, and that signing in cannot help", async () => {
    const { backend } = await boot({ overview: locked });
    expect($("#problem").dataset.code).toBe("keychain_unavailable");
    expect(text("#problem .problem-title")).toBe("The system keychain is not available.");
    expect($("#problem").textContent).toContain("The keychain is locked; unlock it and try again.");
    const help = text("#problem-help");
    expect(help).toContain("Signing in again cannot help.");
    expect(help).toContain("log in to your desktop session");
    expect(help).toContain("gnome-keyring");
    expect($$("#problem-action")).toHaveLength(1);
    expect($("#problem-action").dataset.action).toBe("unlock_keychain");
    expect(text("#problem-action")).toBe("Check again");
    // No sign-in button: it would not help.
    expect(document.querySelector("#sign-in")).toBeNull();
    expect(text("#account-name")).toBe("Sign-in unknown: the keychain cannot be opened.");
    expect(backend.called("account")).toHaveLength(0);
  });

  test("the button checks again (fetches the overview) and says how it went", async () => {
    let unlocked = false;
    const { backend } = await boot({ overview: () => (unlocked ? overview() : locked()) });
    const before = backend.called("overview").length;
    await click("#problem-action");
    await until(() => expect(text("#result")).toBe("The keychain still cannot be opened."));
    expect(backend.called("overview")).toHaveLength(before + 1);
    expect($("#problem-action").dataset.action).toBe("unlock_keychain");
    unlocked = true;
    await click("#problem-action");
    await until(() => expect(text("#result")).toBe("The keychain can be opened again."));
    expect(backend.called("overview")).toHaveLength(before + 2);
    expect(document.querySelector("#problem")).toBeNull();
    expect($("#state-badge").dataset.state).toBe("up_to_date");
  });

  test("in French and Portuguese", async () => {
    await boot({ overview: locked, settings: () => settings({ language: "fr" }) });
    expect(text("#problem-action")).toBe("Vérifier à nouveau");
    expect(text("#problem-help")).toContain("gnome-keyring");
    teardown();
    await boot({ overview: locked, settings: () => settings({ language: "pt" }) });
    expect(text("#problem-action")).toBe("Verificar de novo");
    expect(text("#problem .problem-title")).toBe("O porta-chaves do sistema não está disponível.");
  });
});
