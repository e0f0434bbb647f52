// The contract between the web UI and the Rust shell (src-tauri/src/commands.rs).
// Every command is `invoke(name, args)`; arguments are camelCase here and
// snake_case in Rust (Tauri converts them). Every failure is an AppError.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

/** The overall state, as the header badge and the tray show it. */
export type AppState =
  | "up_to_date"
  | "backing_up"
  | "waiting"
  | "needs_attention"
  | "signed_out"
  | "paused";

/** The closed set of error codes the UI branches on. */
export type ErrorCode =
  | "sign_in_required"
  | "sign_in_declined"
  | "sign_in_expired"
  | "cancelled"
  | "keychain_unavailable"
  | "offline"
  | "throttled"
  | "destination_full"
  | "destination_unavailable"
  | "invalid_backup"
  | "source_unavailable"
  | "not_found"
  | "invalid_input"
  | "busy"
  | "disk_full"
  | "failed";

export interface AppError {
  code: ErrorCode;
  /** English, says what happened and what to do. */
  message: string;
}

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** The one action that fixes the current problem. */
export type Action =
  | "sign_in"
  | "retry"
  | "choose_folder"
  | "add_source"
  | "check_source"
  | "free_space"
  | "resume";

export interface Problem {
  /** An ErrorCode, or "stale" (no verified backup for 3 intervals), "no_sources", "no_destination". */
  code: string;
  message: string;
  action: Action;
  /** The source concerned, if one. */
  source: string | null;
}

/** Restore points wherever they are; `unreachable` says why those kept
 * only at the destination may be missing from the list. */
export interface RestorePointList {
  points: RestorePoint[];
  unreachable: AppError | null;
}

export interface RestorePoint {
  id: string;
  source: string;
  created_at: string; // RFC 3339
  size_bytes: number;
  tables: number;
  rows: number;
  checksum: string;
  location: "local" | "remote" | "both";
  /** Upload state at the destination: "verified", "pending", or null (no destination). */
  upload: string | null;
  source_path: string;
}

export interface SourceStatus {
  name: string;
  path: string;
  last_backup: RestorePoint | null;
  /** Newest restore point verified at the destination (or newest local one without destination). */
  last_verified: RestorePoint | null;
  restore_points: number;
  uploads_pending: number;
  upload_error: string | null;
  upload_error_code: string | null;
  keep_last: number | null;
  keep_days: number | null;
}

export interface Progress {
  source: string;
  table: string | null;
  rows: number;
  /** Upload progress, when uploading. */
  bytes: number | null;
  total: number | null;
}

export interface Overview {
  state: AppState;
  /** English summary (also the tray tooltip's detail). */
  summary: string;
  problem: Problem | null;
  paused: boolean;
  /** Sources being backed up right now, with progress. */
  running: Progress[] | null;
  /** Who is signed in (from the keychain, no network), or null. */
  signed_in: string | null;
  destination: { kind: "onedrive" | "folder"; label: string } | null;
  /** "off" | "every:N" | "daily:HH:MM" */
  schedule: string;
  next_run: string | null; // RFC 3339
  last_verified_at: string | null;
  sources: SourceStatus[];
  /** False when the desktop has no tray (no appindicator library): say so. */
  tray_available: boolean;
}

export interface Account {
  kind: "user" | "app";
  name: string;
  drive_type: string | null;
  quota_total: number | null;
  quota_used: number | null;
  quota_remaining: number | null;
}

export interface DeviceCode {
  user_code: string;
  verification_uri: string;
  /** When the code expires (RFC 3339). */
  expires_at: string;
  message: string;
}

export interface AppRegistration {
  client_id: string;
  tenant: string;
}

export interface Source {
  name: string;
  kind: string;
  path: string;
  keep_last: number | null;
  keep_days: number | null;
  added_at: string;
}

/** What a database file holds, checked before it is added as a source. */
export interface SourceCheck {
  path: string;
  suggested_name: string;
  tables: number;
  size_bytes: number;
  journal_mode: string;
}

export interface FolderEntry {
  name: string;
  drive_id: string;
  item_id: string;
  child_count: number | null;
}

export interface FolderPage {
  folders: FolderEntry[];
  /** Pass back as `next` for the following page. */
  next: string | null;
}

export interface RunRecord {
  source: string;
  started_at: string;
  finished_at: string;
  outcome: "backed_up" | "unchanged" | "failed";
  restore_point: string | null;
  bytes: number | null;
  error: string | null;
}

/** What a restore or import would do; nothing has been touched yet. */
export interface Preview {
  source: string;
  created_at: string;
  tables: [string, number][];
  rows: number;
  /** The registered source's database that a restore in place replaces, if registered. */
  replaces: string | null;
  /** A restore in place first keeps the current contents as a restore point. */
  safety_copy: boolean;
}

export interface RestoreReport {
  target: string;
  source: string;
  created_at: string;
  tables: [string, number][];
  rows: number;
  safety_point: string | null;
  safety_file: string | null;
}

export interface Settings {
  schedule: string;
  notifications: boolean;
  autostart: boolean;
  /** "en" | "fr" | "pt", or null to follow the system. */
  language: string | null;
  /** The system's language, resolved to one of en/fr/pt. */
  system_language: string;
}

/** Which backup a preview / restore reads: a restore point id, or a JSON file. */
export type BackupSelector = { point: string } | { file: string };

export const api = {
  overview: () => invoke<Overview>("overview"),
  account: () => invoke<Account>("account"),
  appRegistration: () => invoke<AppRegistration | null>("app_registration"),
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

  checkSource: (path: string) => invoke<SourceCheck>("check_source", { path }),
  addSource: (path: string, name: string | null) => invoke<Source>("add_source", { path, name }),
  renameSource: (name: string, newName: string) => invoke<Source>("rename_source", { name, newName }),
  removeSource: (name: string) => invoke<void>("remove_source", { name }),
  setRetention: (name: string, keepLast: number | null, keepDays: number | null) =>
    invoke<void>("set_retention", { name, keepLast, keepDays }),
  sources: () => invoke<Source[]>("sources"),

  browseOnedrive: (driveId: string | null, itemId: string | null, next: string | null) =>
    invoke<FolderPage>("browse_onedrive", { driveId, itemId, next }),
  createOnedriveFolder: (driveId: string | null, itemId: string | null, name: string) =>
    invoke<FolderEntry>("create_onedrive_folder", { driveId, itemId, name }),
  /** Use a OneDrive folder chosen in the picker; `path` is shown to the person ("/Backups/Shop"). */
  useOnedriveFolder: (driveId: string, itemId: string, path: string) =>
    invoke<void>("use_onedrive_folder", { driveId, itemId, path }),
  useShareLink: (link: string) => invoke<void>("use_share_link", { link }),
  useLocalFolder: (path: string) => invoke<void>("use_local_folder", { path }),
  removeDestination: () => invoke<void>("remove_destination"),

  restorePoints: (source: string | null) => invoke<RestorePointList>("restore_points", { source }),
  preview: (backup: BackupSelector) => invoke<Preview>("preview", { backup }),
  /** Into a new database file `to`, or in place over its source when `to` is null. */
  restore: (backup: BackupSelector, to: string | null) =>
    invoke<RestoreReport>("restore", { backup, to }),
  exportPoint: (point: string, file: string) => invoke<number>("export_point", { point, file }),

  history: (limit: number) => invoke<RunRecord[]>("history", { limit }),
  settings: () => invoke<Settings>("settings"),
  setSchedule: (schedule: string) => invoke<void>("set_schedule", { schedule }),
  setNotifications: (on: boolean) => invoke<void>("set_notifications", { on }),
  setAutostart: (on: boolean) => invoke<void>("set_autostart", { on }),
  setLanguage: (language: string | null) => invoke<void>("set_language", { language }),

  backUpNow: () => invoke<void>("back_up_now"),
  pause: () => invoke<void>("pause"),
  resume: () => invoke<void>("resume"),
  /** Called once the first screen is drawn (launch-time measurement). */
  uiReady: () => invoke<void>("ui_ready"),
};

/** The engine's event stream, as the shell forwards it on "nuage://event". */
export type EngineEvent =
  | { event: "run_started"; sources: string[] }
  | { event: "source_started"; source: string }
  | { event: "progress"; source: string; table: string; rows: number }
  | { event: "source_finished"; outcome: { source: string; status: string; error: string | null } }
  | { event: "run_finished"; failed: number }
  | { event: "upload_progress"; source: string; point: string; bytes: number; total: number }
  | { event: "restore_progress"; table: string; rows: number }
  | { event: "state_changed"; state: AppState; summary: string };

export function onEngineEvent(f: (e: EngineEvent) => void): Promise<UnlistenFn> {
  return listen<EngineEvent>("nuage://event", (e) => f(e.payload));
}
