// Test harness: a fake backend behind mockIPC, sample data, and helpers to
// start the app in jsdom and wait for it.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { vi } from "vitest";
import type { Channel } from "@tauri-apps/api/core";
import type { AppOverview, EngineEvent, RestorePoint, Settings, SourceStatus } from "../api";
import { startApp, type AppHandle } from "../app";
import { setLang } from "../i18n";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Args = any;
export type Handler = (args: Args) => unknown;

export interface Backend {
  calls: { cmd: string; args: Args }[];
  handlers: Record<string, Handler>;
  /** The arguments of every call of `cmd`. */
  called(cmd: string): Args[];
}

export const MB = 1024 * 1024;

export function point(p: Partial<RestorePoint> = {}): RestorePoint {
  return {
    id: "p1",
    source: "shop",
    created_at: new Date(Date.now() - 2 * 3600 * 1000).toISOString(),
    size_bytes: Math.round(3.1 * MB),
    tables: 12,
    rows: 48210,
    checksum: "abc",
    location: "both",
    upload: "verified",
    source_path: "/data/shop.db",
    ...p,
  };
}

export function sourceStatus(s: Partial<SourceStatus> = {}): SourceStatus {
  return {
    name: "shop",
    kind: "sqlite",
    path: "/data/shop.db",
    added_at: new Date(Date.now() - 30 * 24 * 3600 * 1000).toISOString(),
    last_backup: point(),
    last_verified: point(),
    restore_points: 3,
    uploads_pending: 0,
    upload_error: null,
    upload_error_code: null,
    keep_last: null,
    keep_days: null,
    last_proven: null,
    ...s,
  };
}

export function overview(o: Partial<AppOverview> = {}): AppOverview {
  return {
    state: "up_to_date",
    summary: "All backed up",
    problem: null,
    setup: null,
    paused: false,
    running: null,
    signed_in: "ana@example.com",
    destination: { kind: "onedrive", label: "OneDrive folder /Backups" },
    schedule: "every:60",
    next_run: null,
    last_verified_at: null,
    sources: [sourceStatus()],
    tray_available: true,
    ...o,
  };
}

export function settings(s: Partial<Settings> = {}): Settings {
  return { schedule: "every:60", notifications: true, autostart: false, language: "en", system_language: "en", verify_every: 7, ...s };
}

export function mockBackend(handlers: Record<string, Handler> = {}): Backend {
  const b: Backend = {
    calls: [],
    handlers: {
      overview: () => overview(),
      settings: () => settings(),
      account: () => ({ kind: "user", name: "ana@example.com", drive_type: "personal", quota_total: 5 * 1024 * MB, quota_used: Math.round(1.2 * 1024 * MB), quota_remaining: null }),
      app_registration: () => ({ client_id: "nuage-client", tenant: "common" }),
      ui_ready: () => null,
      sources: () => [],
      restore_points: () => ({ points: [], unreachable: null }),
      history: () => [],
      alerts: () => ({ settings: { email: null, webhook: null, lang: "en" }, problems: [], queued: 0, last_error: null, email_last_sent: null, webhook_last_sent: null }),
      ...handlers,
    },
    called(cmd: string) {
      return b.calls.filter((c) => c.cmd === cmd).map((c) => c.args);
    },
  };
  mockIPC(
    (cmd, args) => {
      b.calls.push({ cmd, args });
      const h = b.handlers[cmd];
      return h ? h(args) : null;
    },
    { shouldMockEvents: true },
  );
  return b;
}

let app: AppHandle | null = null;

/** Starts the app on a fresh document with `handlers` as the backend. */
export async function boot(handlers: Record<string, Handler> = {}): Promise<{ backend: Backend; app: AppHandle }> {
  const backend = mockBackend(handlers);
  document.body.replaceChildren();
  const root = document.createElement("div");
  root.id = "app";
  document.body.append(root);
  app = startApp(root, { refreshMs: 60_000, resultMs: 0 });
  await app.ready;
  await settle();
  return { backend, app };
}

export function teardown(): void {
  app?.stop();
  app = null;
  clearMocks();
  setLang("en");
  document.body.replaceChildren();
}

/** Lets pending promises and timers of 0 ms run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 0));
}

export function $(sel: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(sel);
  if (!el) throw new Error(`no element matches ${sel}`);
  return el;
}

export function $$(sel: string): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>(sel)];
}

export function text(sel: string): string {
  return ($(sel).textContent ?? "").replace(/\s+/g, " ").trim();
}

export async function click(sel: string | HTMLElement): Promise<void> {
  (typeof sel === "string" ? $(sel) : sel).click();
  await settle();
}

/** Types into an input and fires input + change (as a person leaving the field would). */
export async function type(sel: string, value: string): Promise<void> {
  const el = $(sel) as HTMLInputElement;
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
  el.dispatchEvent(new Event("change", { bubbles: true }));
  await settle();
}

export async function check(sel: string, on = true): Promise<void> {
  const el = $(sel) as HTMLInputElement;
  if (el.checked !== on) el.click();
  await settle();
}

export async function event(e: EngineEvent): Promise<void> {
  await emit("nuage://event", e);
  await settle();
}

const channelIndex = new WeakMap<object, number>();

/**
 * Sends `message` on a Channel the UI passed as a command argument, as the
 * Rust side does: under mockIPC the argument is the Channel object itself,
 * whose `id` is a callback registered with the mock (messages carry their
 * index, and are delivered in order).
 */
export async function sendOnChannel<T>(channel: Channel<T>, message: T): Promise<void> {
  const index = channelIndex.get(channel) ?? 0;
  channelIndex.set(channel, index + 1);
  const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, data: unknown): void } }).__TAURI_INTERNALS__;
  internals.runCallback(channel.id, { index, message });
  await settle();
}

export async function until(f: () => void): Promise<void> {
  await vi.waitFor(f, { timeout: 2000, interval: 5 });
}

/** A promise with its resolve/reject handles. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
