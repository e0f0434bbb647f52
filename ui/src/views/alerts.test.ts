import { afterEach, describe, expect, test } from "vitest";
import type { AlertsView } from "../api";
import { $, $$, boot, check, click, teardown, text, type, until } from "../test/harness";
import { recipients } from "./alerts";

afterEach(teardown);

const none: AlertsView = { settings: { email: null, webhook: null, lang: "en" }, problems: [], queued: 0, last_error: null, email_last_sent: null, webhook_last_sent: null };

async function openAlerts(handlers = {}) {
  const r = await boot({ set_email_alerts: () => null, set_webhook_alerts: () => null, remove_alerts: () => null, ...handlers });
  await click("#nav-settings");
  await until(() => expect($("#alert-email-save")).toBeTruthy());
  return r;
}

describe("alerts in the settings", () => {
  test("email alerts are sent with their recipients split and the password only when typed", async () => {
    const { backend } = await openAlerts();
    expect(($("#alert-test") as HTMLButtonElement).disabled).toBe(true);
    await click("#alert-email-save");
    expect(text("#alert-email-error")).toBe("Enter the mail server, the sender and at least one recipient.");
    expect(backend.called("set_email_alerts")).toHaveLength(0);
    await type("#alert-smtp", " smtps://smtp.garage.test ");
    await type("#alert-from", "nuage@garage.test");
    await type("#alert-to", "boss@garage.test, it@garage.test;  ana@garage.test");
    await type("#alert-user", "office");
    await type("#alert-password", "Sesame 42");
    ($("#alert-email-on") as HTMLSelectElement).value = "always";
    await click("#alert-email-save");
    await until(() => expect(backend.called("set_email_alerts")).toHaveLength(1));
    expect(backend.called("set_email_alerts")[0]).toEqual({
      email: { server: "smtps://smtp.garage.test", starttls: false, from: "nuage@garage.test", to: ["boss@garage.test", "it@garage.test", "ana@garage.test"], user: "office", on: "always" },
      password: "Sesame 42",
    });
    await until(() => expect(text("#result")).toBe("Email alerts saved."));
  });

  test("a refusal from the engine is shown beside the form", async () => {
    await openAlerts({ set_email_alerts: () => { throw { code: "invalid_input", message: "'x' is not an email address." }; } });
    await type("#alert-smtp", "smtp://mail.test");
    await type("#alert-from", "x");
    await type("#alert-to", "y@z.test");
    await click("#alert-email-save");
    await until(() => expect(text("#alert-email-error")).toContain("is not an email address"));
  });

  test("the webhook's address is never shown back, only where it points", async () => {
    const view: AlertsView = { ...none, settings: { ...none.settings, webhook: { format: "teams", on: "failure", shown: "https://garage.webhook.office.com/…" } }, queued: 2, last_error: "the webhook at https://garage.webhook.office.com/… answered 500" };
    const { backend } = await openAlerts({ alerts: () => view });
    await until(() => expect($("#alert-webhook-shown")).toBeTruthy());
    expect(text("#alert-webhook-shown")).toBe("Webhook set: https://garage.webhook.office.com/…");
    expect(($("#alert-webhook-url") as HTMLInputElement).value).toBe("");
    expect(($("#alert-webhook-url") as HTMLInputElement).type).toBe("password");
    expect(($("#alert-webhook-format") as HTMLSelectElement).value).toBe("teams");
    expect(text("#alert-queued")).toContain("2 message(s) waiting to be sent");
    await type("#alert-webhook-url", "https://hooks.slack.com/services/T0/B0/SECRET");
    ($("#alert-webhook-format") as HTMLSelectElement).value = "slack";
    await click("#alert-webhook-save");
    await until(() => expect(backend.called("set_webhook_alerts")).toEqual([{ url: "https://hooks.slack.com/services/T0/B0/SECRET", format: "slack", on: "failure" }]));
    expect(document.body.textContent).not.toContain("SECRET");
  });

  test("the test button says, per channel, what was sent and what failed", async () => {
    const view: AlertsView = { ...none, settings: { ...none.settings, email: { server: "smtp://mail.test", starttls: true, from: "a@b.test", to: ["c@d.test"], user: "office", on: "failure" }, webhook: { format: "json", on: "failure", shown: "https://x.test/…" } } };
    await openAlerts({
      alerts: () => view,
      test_alerts: () => [
        { channel: "email", sent: false, error: "the mail server mail.test:587 refused the sign-in (535). Check the user name and password." },
        { channel: "webhook", sent: true, error: null },
      ],
    });
    expect(($("#alert-password") as HTMLInputElement).placeholder).toBe("kept — leave empty to keep it");
    await check("#alert-starttls", true);
    await click("#alert-test");
    await until(() => expect($$("#alert-test-results li")).toHaveLength(2));
    expect(text("#alert-test-results")).toContain("Email: not sent. the mail server mail.test:587 refused the sign-in");
    expect(text("#alert-test-results")).toContain("Webhook: test message sent.");
  });

  test("recipients", () => {
    expect(recipients(" a@b.test,c@d.test ; e@f.test\n")).toEqual(["a@b.test", "c@d.test", "e@f.test"]);
    expect(recipients(" , ")).toEqual([]);
  });
});
