import { afterEach, describe, expect, test } from "vitest";
import type { Action, AppState } from "../api";
import { $, $$, boot, click, event, MB, overview, point, settings, sourceStatus, teardown, text, until } from "../test/harness";

afterEach(teardown);

const STATES: [AppState, string, string][] = [
  ["up_to_date", "Up to date", "À jour"],
  ["backing_up", "Backing up", "Sauvegarde en cours"],
  ["waiting", "Waiting to upload", "En attente d'envoi"],
  ["needs_attention", "Needs attention", "Action requise"],
  ["signed_out", "Signed out", "Déconnecté"],
  ["paused", "Paused", "En pause"],
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

  test("follows state_changed events and fetches the overview again", async () => {
    let state: AppState = "up_to_date";
    const { backend } = await boot({ overview: () => overview({ state }) });
    const before = backend.called("overview").length;
    state = "backing_up";
    await event({ event: "state_changed", state: "backing_up", summary: "Backing up shop" });
    await until(() => expect($("#state-badge").dataset.state).toBe("backing_up"));
    expect(backend.called("overview").length).toBeGreaterThan(before);
    expect(($("#back-up-now") as HTMLButtonElement).disabled).toBe(true);
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
  function withProblem(action: Action, code = "offline") {
    return () => overview({ state: "needs_attention", problem: { code, message: "Details in English.", action, source: "shop" } });
  }

  test("shows the translated headline, the message and one action", async () => {
    await boot({ overview: withProblem("retry", "offline") });
    const p = $("#problem");
    expect(p.dataset.code).toBe("offline");
    expect(p.textContent).toContain("No connection to OneDrive.");
    expect(p.textContent).toContain("Details in English.");
    expect($$("#problem-action")).toHaveLength(1);
    expect($("#problem-action").dataset.action).toBe("retry");
  });

  test("an unknown code gets the generic headline", async () => {
    await boot({ overview: withProblem("retry", "something_new") });
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

  test("resume calls resume", async () => {
    const { backend } = await boot({ overview: withProblem("resume", "stale"), resume: () => null });
    expect(text("#problem .problem-title")).toBe("Backups are overdue.");
    await click("#problem-action");
    expect(backend.called("resume")).toHaveLength(1);
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
      overview: () => overview({ state: "backing_up", running: [{ source: "shop", table: null, rows: 0, bytes: null, total: null }] }),
    });
    const before = backend.called("overview").length;
    await event({ event: "progress", source: "shop", table: "orders", rows: 1200 });
    const box = $('.source-card[data-name="shop"] .source-progress');
    expect(box.hidden).toBe(false);
    expect(box.textContent).toContain("orders");
    expect(box.textContent).toContain("1,200");
    await event({ event: "upload_progress", source: "shop", point: "p2", bytes: 1 * MB, total: 4 * MB });
    const bar = $('.source-card[data-name="shop"] progress') as HTMLProgressElement;
    expect(bar.value).toBe(1 * MB);
    expect(bar.max).toBe(4 * MB);
    expect(backend.called("overview").length).toBe(before);
  });

  test("run_finished fetches the overview again", async () => {
    let n = 0;
    await boot({
      overview: () => {
        n++;
        return overview({ sources: [sourceStatus({ last_verified: n > 1 ? point({ rows: 1 }) : point() })] });
      },
    });
    await event({ event: "run_finished", failed: 0 });
    await until(() => expect($(".source-last").textContent).toContain("1 row ·"));
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
