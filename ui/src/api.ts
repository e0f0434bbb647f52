// The contract between the web UI and the Rust shell (src-tauri/src/commands.rs).
// Every command is `invoke(name, args)`; arguments are camelCase here and
// snake_case in Rust (Tauri converts them). Every failure is an AppError.
//
// The types that cross the IPC are generated from the Rust types into
// bindings.ts (`NUAGE_BLESS=1 cargo test -p nuage-app --test bindings`):
// never write one by hand here, import it from there.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  Account,
  AlertOn,
  AlertsView,
  AlertTest,
  EmailAlerts,
  WebhookFormat,
  AppError,
  AppOverview,
  BackupSelector,
  DeviceCode,
  Event,
  FolderEntry,
  FolderPage,
  Preview,
  Registration,
  RestorePointList,
  RestoreReport,
  RunRecord,
  S3Form,
  S3Probe,
  Settings,
  SourceCheck,
  SourceRecord,
  TrayShown,
} from "./bindings";

export type * from "./bindings";

/** The engine's event stream (the generated `Event`), as the shell forwards it on "nuage://event". */
export type EngineEvent = Event;

/** One message of a restore's progress channel. */
export type RestoreProgress = Extract<Event, { event: "restore_progress" }>;

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export const api = {
  overview: () => invoke<AppOverview>("overview"),
  account: () => invoke<Account>("account"),
  /** The app registration in use, or null when none is configured yet. */
  appRegistration: () => invoke<Registration | null>("app_registration"),
  signInStart: (clientId: string | null, tenant: string | null) =>
    invoke<DeviceCode>("sign_in_start", { clientId, tenant }),
  /** Resolves when approved; rejects with sign_in_declined / sign_in_expired / cancelled. */
  signInWait: () => invoke<Account>("sign_in_wait"),
  signInCancel: () => invoke<void>("sign_in_cancel"),
  openSignInPage: () => invoke<void>("open_sign_in_page"),
  copySignInCode: () => invoke<void>("copy_sign_in_code"),
  signInApp: (clientId: string, tenant: string, secret: string) =>
    invoke<Account>("sign_in_app", { clientId, tenant, secret }),
  signOut: () => invoke<void>("sign_out"),

  checkSource: (path: string, password: string | null = null) => invoke<SourceCheck>("check_source", { path, password }),
  /** `exclude`: a folder's patterns of what to leave out. */
  addSource: (path: string, name: string | null, password: string | null = null, exclude: string[] = []) =>
    invoke<SourceRecord>("add_source", { path, name, password, exclude }),
  renameSource: (name: string, newName: string) => invoke<SourceRecord>("rename_source", { name, newName }),
  removeSource: (name: string) => invoke<void>("remove_source", { name }),
  setRetention: (name: string, keepLast: number | null, keepDays: number | null) =>
    invoke<void>("set_retention", { name, keepLast, keepDays }),
  sources: () => invoke<SourceRecord[]>("sources"),

  browseOnedrive: (driveId: string | null, itemId: string | null, next: string | null) =>
    invoke<FolderPage>("browse_onedrive", { driveId, itemId, next }),
  createOnedriveFolder: (driveId: string | null, itemId: string | null, name: string) =>
    invoke<FolderEntry>("create_onedrive_folder", { driveId, itemId, name }),
  /** Use a OneDrive folder chosen in the picker; `path` is shown to the person ("/Backups/Shop"). */
  useOnedriveFolder: (driveId: string, itemId: string, path: string) =>
    invoke<void>("use_onedrive_folder", { driveId, itemId, path }),
  useShareLink: (link: string) => invoke<void>("use_share_link", { link }),
  useLocalFolder: (path: string) => invoke<void>("use_local_folder", { path }),
  /** An S3-compatible bucket, tried step by step first; the secret goes to the keychain only. */
  useS3: (form: S3Form, secret: string) => invoke<S3Probe>("use_s3", { form, secret }),
  testS3: () => invoke<S3Probe>("test_s3"),
  removeDestination: () => invoke<void>("remove_destination"),

  restorePoints: (source: string | null) => invoke<RestorePointList>("restore_points", { source }),
  preview: (backup: BackupSelector) => invoke<Preview>("preview", { backup }),
  /** Stops the preview or restore in progress; it then fails with code `cancelled`, nothing changed. */
  cancelRestore: () => invoke<void>("cancel_restore"),
  /**
   * Into a new database file `to`, or in place over its source when `to` is
   * null. Its progress arrives on the channel passed as `progress`, one
   * `restore_progress` message per step, given to `onProgress`.
   */
  restore: (backup: BackupSelector, to: string | null, onProgress?: (p: RestoreProgress) => void, paths: string[] = []) => {
    const progress = new Channel<Event>();
    progress.onmessage = (e) => {
      if (e.event === "restore_progress") onProgress?.(e);
    };
    return invoke<RestoreReport>("restore", { backup, to, progress, paths });
  },
  exportPoint: (point: string, file: string) => invoke<number>("export_point", { point, file }),

  history: (limit: number) => invoke<RunRecord[]>("history", { limit }),
  settings: () => invoke<Settings>("settings"),
  setSchedule: (schedule: string) => invoke<void>("set_schedule", { schedule }),
  setNotifications: (on: boolean) => invoke<void>("set_notifications", { on }),
  /** Days between scheduled restore drills; null turns them off. */
  setVerifyEvery: (days: number | null) => invoke<void>("set_verify_every", { days }),
  setAutostart: (on: boolean) => invoke<void>("set_autostart", { on }),
  setLanguage: (language: string | null) => invoke<void>("set_language", { language }),

  alerts: () => invoke<AlertsView>("alerts"),
  /** `password`: null keeps the one in the keychain. */
  setEmailAlerts: (email: EmailAlerts, password: string | null) => invoke<void>("set_email_alerts", { email, password }),
  setWebhookAlerts: (url: string, format: WebhookFormat, on: AlertOn) => invoke<void>("set_webhook_alerts", { url, format, on }),
  testAlerts: () => invoke<AlertTest[]>("test_alerts"),
  removeAlerts: (channel: "email" | "webhook") => invoke<void>("remove_alerts", { channel }),

  backUpNow: () => invoke<void>("back_up_now"),
  pause: () => invoke<void>("pause"),
  resume: () => invoke<void>("resume"),
  /** What the tray shows (or would show, without a tray). */
  trayStatus: () => invoke<TrayShown>("tray_status"),
  /** Called once the first screen is drawn (launch-time measurement). */
  uiReady: () => invoke<void>("ui_ready"),
};

export function onEngineEvent(f: (e: Event) => void): Promise<UnlistenFn> {
  return listen<Event>("nuage://event", (e) => f(e.payload));
}
