import { afterEach, describe, expect, test } from "vitest";
import { $, boot, check, click, settings, teardown, text, type, until } from "../test/harness";
import { parseSchedule, scheduleString } from "./settings";

afterEach(teardown);

async function openSettings(handlers = {}) {
  const r = await boot({ set_schedule: () => null, ...handlers });
  await click("#nav-settings");
  await until(() => expect($("#schedule-save")).toBeTruthy());
  return r;
}

describe("schedule form", () => {
  test.each(["0", "1441", "-5", "1.5", "abc", ""])("rejects %j minutes", async (minutes) => {
    const { backend } = await openSettings();
    await check("#schedule-every");
    await type("#schedule-minutes", minutes);
    await click("#schedule-save");
    expect(text("#schedule-error")).toBe("Enter a whole number of minutes from 1 to 1440.");
    expect($("#schedule-minutes").getAttribute("aria-invalid")).toBe("true");
    expect(backend.called("set_schedule")).toHaveLength(0);
  });

  test("sends every:15", async () => {
    const { backend } = await openSettings();
    await check("#schedule-every");
    await type("#schedule-minutes", "15");
    await click("#schedule-save");
    expect(backend.called("set_schedule")).toEqual([{ schedule: "every:15" }]);
    expect(text("#schedule-error")).toBe("");
    expect(text("#result")).toBe("Schedule saved.");
  });

  test("accepts the bounds 1 and 1440", async () => {
    const { backend } = await openSettings();
    await check("#schedule-every");
    await type("#schedule-minutes", "1");
    await click("#schedule-save");
    await type("#schedule-minutes", "1440");
    await click("#schedule-save");
    expect(backend.called("set_schedule")).toEqual([{ schedule: "every:1" }, { schedule: "every:1440" }]);
  });

  test("sends daily:07:30", async () => {
    const { backend } = await openSettings();
    await check("#schedule-daily");
    await type("#schedule-time", "07:30");
    await click("#schedule-save");
    expect(backend.called("set_schedule")).toEqual([{ schedule: "daily:07:30" }]);
  });

  test("rejects a bad time", async () => {
    const { backend } = await openSettings();
    await check("#schedule-daily");
    await type("#schedule-time", "");
    await click("#schedule-save");
    expect(text("#schedule-error")).toBe("Enter a time such as 07:30.");
    expect(backend.called("set_schedule")).toHaveLength(0);
  });

  test("sends off", async () => {
    const { backend } = await openSettings();
    await check("#schedule-off");
    await click("#schedule-save");
    expect(backend.called("set_schedule")).toEqual([{ schedule: "off" }]);
  });

  test("is prefilled from the settings", async () => {
    await openSettings({ settings: () => settings({ schedule: "daily:06:05" }) });
    expect(($("#schedule-daily") as HTMLInputElement).checked).toBe(true);
    expect(($("#schedule-time") as HTMLInputElement).value).toBe("06:05");
  });

  test("a backend refusal is shown inline", async () => {
    await openSettings({ set_schedule: () => Promise.reject({ code: "invalid_input", message: "Bad schedule." }) });
    await check("#schedule-every");
    await type("#schedule-minutes", "30");
    await click("#schedule-save");
    expect(text("#schedule-error")).toContain("Bad schedule.");
  });

  test("scheduleString and parseSchedule", () => {
    expect(scheduleString({ mode: "daily", time: "23:59:00" })).toEqual({ ok: true, value: "daily:23:59" });
    expect(scheduleString({ mode: "daily", time: "24:00" }).ok).toBe(false);
    expect(scheduleString({ mode: "daily", time: "7:30" }).ok).toBe(false);
    expect(parseSchedule("every:15")).toEqual({ mode: "every", minutes: "15" });
    expect(parseSchedule("daily:7:05")).toEqual({ mode: "daily", time: "07:05" });
    expect(parseSchedule("off")).toEqual({ mode: "off" });
  });
});

describe("toggles", () => {
  test("notifications and autostart call the backend", async () => {
    const { backend } = await openSettings({ set_notifications: () => null, set_autostart: () => null });
    expect(($("#notifications") as HTMLInputElement).checked).toBe(true);
    await check("#notifications", false);
    await check("#autostart", true);
    expect(backend.called("set_notifications")).toEqual([{ on: false }]);
    expect(backend.called("set_autostart")).toEqual([{ on: true }]);
  });

  test("a failed toggle goes back", async () => {
    await openSettings({ set_autostart: () => Promise.reject({ code: "failed", message: "No autostart here." }) });
    await check("#autostart", true);
    await until(() => expect(($("#autostart") as HTMLInputElement).checked).toBe(false));
    expect(text("#result")).toContain("No autostart here.");
    expect($("#result").dataset.kind).toBe("error");
  });
});

describe("restore drills", () => {
  test("every N days, off, and a bad number refused", async () => {
    const { backend } = await openSettings({ set_verify_every: () => null });
    expect(($("#drill-days") as HTMLInputElement).value).toBe("7");
    await type("#drill-days", "0");
    await click("#drill-save");
    expect(text("#drill-error")).toBe("Enter a whole number of days from 1 to 365.");
    expect(backend.called("set_verify_every")).toHaveLength(0);
    await type("#drill-days", "3");
    await click("#drill-save");
    await until(() => expect(backend.called("set_verify_every")).toEqual([{ days: 3 }]));
    await check("#drills-on", false);
    expect(($("#drill-days") as HTMLInputElement).disabled).toBe(true);
    await click("#drill-save");
    await until(() => expect(backend.called("set_verify_every")).toEqual([{ days: 3 }, { days: null }]));
  });
});
