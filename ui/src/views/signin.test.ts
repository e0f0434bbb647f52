import { afterEach, describe, expect, test, vi } from "vitest";
import type { Account, DeviceCode } from "../api";
import { $, boot, click, deferred, overview, teardown, text, type, until, type Handler } from "../test/harness";

afterEach(() => {
  vi.useRealTimers();
  teardown();
});

const account: Account = { kind: "user", name: "ana@contoso.com", drive_type: "business", quota_total: null, quota_used: null, quota_remaining: null };

function code(secondsLeft = 899): DeviceCode {
  return { user_code: "QWER-TY12", verification_uri: "https://microsoft.com/devicelogin", expires_at: new Date(Date.now() + secondsLeft * 1000 + 500).toISOString(), message: "To sign in…" };
}

async function openDialog(wait: Handler, handlers: Record<string, Handler> = {}) {
  const r = await boot({
    overview: () => overview({ signed_in: null, state: "signed_out" }),
    sign_in_start: () => code(),
    sign_in_wait: wait,
    sign_in_cancel: () => null,
    ...handlers,
  });
  await click("#sign-in");
  await until(() => expect($("#sign-in-dialog")).toBeTruthy());
  return r;
}

describe("sign-in dialog", () => {
  test("shows the code, the page, the countdown; copy and open call the backend", async () => {
    const { backend } = await openDialog(() => new Promise(() => undefined), { copy_sign_in_code: () => null, open_sign_in_page: () => null });
    await until(() => expect(text("#user-code")).toBe("QWER-TY12"));
    expect($("#sign-in-dialog").textContent).toContain("https://microsoft.com/devicelogin");
    expect(text("#sign-in-countdown")).toMatch(/^1[45]:[0-5]\d$/);
    expect(backend.called("sign_in_start")).toEqual([{ clientId: null, tenant: null }]);
    await click("#copy-code");
    await click("#open-sign-in-page");
    expect(backend.called("copy_sign_in_code")).toHaveLength(1);
    expect(backend.called("open_sign_in_page")).toHaveLength(1);
  });

  test("the countdown runs down to the expiry", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    await openDialog(() => new Promise(() => undefined), { sign_in_start: () => code(65) });
    await until(() => expect(text("#sign-in-countdown")).toBe("01:05"));
    vi.advanceTimersByTime(5000);
    expect(text("#sign-in-countdown")).toBe("01:00");
    vi.advanceTimersByTime(120_000);
    expect(text("#sign-in-countdown")).toBe("00:00");
  });

  test("success says who is signed in", async () => {
    const d = deferred<Account>();
    await openDialog(() => d.promise);
    await until(() => expect(text("#user-code")).toBe("QWER-TY12"));
    d.resolve(account);
    await until(() => expect($("#sign-in-outcome").dataset.outcome).toBe("signed_in"));
    expect(text("#sign-in-outcome")).toBe("Signed in as ana@contoso.com");
    expect(document.querySelector("#sign-in-restart")).toBeNull();
  });

  test("declined shows the outcome and offers to start again", async () => {
    let starts = 0;
    const { backend } = await openDialog(() => Promise.reject({ code: "sign_in_declined", message: "The user declined." }), {
      sign_in_start: () => {
        starts++;
        return code();
      },
    });
    await until(() => expect($("#sign-in-outcome").dataset.outcome).toBe("declined"));
    expect(text("#sign-in-outcome")).toContain("Sign-in was declined");
    expect(document.querySelector("#user-code")).toBeNull();
    await click("#sign-in-restart");
    await until(() => expect(starts).toBe(2));
    expect(backend.called("sign_in_wait").length).toBe(2);
  });

  test("expired and other errors have their own outcome", async () => {
    await openDialog(() => Promise.reject({ code: "sign_in_expired", message: "Expired." }));
    await until(() => expect($("#sign-in-outcome").dataset.outcome).toBe("expired"));
    expect($("#sign-in-restart")).toBeTruthy();
    teardown();
    await openDialog(() => Promise.reject({ code: "offline", message: "No network." }));
    await until(() => expect($("#sign-in-outcome").dataset.outcome).toBe("error"));
    expect(text("#sign-in-outcome")).toContain("No network.");
    expect($("#sign-in-restart")).toBeTruthy();
  });

  test("cancelled closes the dialog", async () => {
    const d = deferred<Account>();
    await openDialog(() => d.promise);
    await until(() => expect(text("#user-code")).toBe("QWER-TY12"));
    d.reject({ code: "cancelled", message: "Cancelled." });
    await until(() => expect(document.querySelector("#sign-in-dialog")).toBeNull());
  });

  test("closing the dialog calls sign_in_cancel and gives the focus back", async () => {
    const { backend } = await openDialog(() => new Promise(() => undefined));
    await until(() => expect(text("#user-code")).toBe("QWER-TY12"));
    await click("#sign-in-close");
    expect(document.querySelector("#sign-in-dialog")).toBeNull();
    expect(backend.called("sign_in_cancel")).toHaveLength(1);
  });

  test("Escape closes the dialog too", async () => {
    const { backend } = await openDialog(() => new Promise(() => undefined));
    $("#sign-in-dialog").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(document.querySelector("#sign-in-dialog")).toBeNull();
    expect(backend.called("sign_in_cancel")).toHaveLength(1);
  });

  test("advanced: prefilled registration, custom registration and app-only sign-in", async () => {
    const { backend } = await openDialog(() => new Promise(() => undefined), { sign_in_app: () => account });
    await until(() => expect(($("#client-id") as HTMLInputElement).value).toBe("nuage-client"));
    expect(($("#tenant") as HTMLInputElement).value).toBe("common");
    expect(($("#app-secret") as HTMLInputElement).type).toBe("password");
    expect($("#client-id").closest("details")).toBeTruthy();

    await type("#client-id", "my-app");
    await type("#tenant", "contoso.onmicrosoft.com");
    await click("#sign-in-apply");
    await until(() => expect(backend.called("sign_in_start")[1]).toEqual({ clientId: "my-app", tenant: "contoso.onmicrosoft.com" }));

    await click("#sign-in-app");
    expect(text("#sign-in-advanced-error")).not.toBe("");
    expect(backend.called("sign_in_app")).toHaveLength(0);
    await type("#app-secret", "s3cret");
    await click("#sign-in-app");
    await until(() => expect(backend.called("sign_in_app")).toEqual([{ clientId: "my-app", tenant: "contoso.onmicrosoft.com", secret: "s3cret" }]));
    await until(() => expect($("#sign-in-outcome").dataset.outcome).toBe("signed_in"));
  });

  test("Tab stays inside the dialog", async () => {
    await openDialog(() => new Promise(() => undefined));
    await until(() => expect(text("#user-code")).toBe("QWER-TY12"));
    const close = $("#sign-in-close");
    close.focus();
    const ev = new KeyboardEvent("keydown", { key: "Tab", bubbles: true, cancelable: true });
    close.dispatchEvent(ev);
    expect(ev.defaultPrevented).toBe(true);
    expect($("#sign-in-dialog").contains(document.activeElement)).toBe(true);
    expect(document.activeElement).not.toBe(close);
  });
});
