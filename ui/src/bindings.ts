// Generated from the Rust types by src-tauri/tests/bindings.rs: do not edit.
// `NUAGE_BLESS=1 cargo test -p nuage-app --test bindings` rewrites it.

/**
 * What Nuage is doing about the data, as the badge, the tray, `nuage
 * status` and the alerts show it.
 */
export type AppState = "not_set_up" | "up_to_date" | "backing_up" | "waiting" | "needs_attention" | "signed_out" | "paused";

/**
 * The one action that fixes the current problem. Each front end words it
 * (a button in the app, a command in the CLI, a line in an alert).
 */
export type Action = "sign_in" | "unlock_keychain" | "retry" | "resume" | "choose_folder" | "add_source" | "check_source" | "free_space" | "check_clock";

/**
 * Every code Nuage reports, for scripts (`--json`), the desktop UI (which
 * branches on them; its TypeScript type is generated from this one) and
 * the state model. Serialised once, by serde, in snake_case.
 */
export type ErrorCode = "sign_in_required" | "sign_in_declined" | "sign_in_expired" | "cancelled" | "keychain_unavailable" | "offline" | "throttled" | "destination_full" | "destination_unavailable" | "hash_mismatch" | "invalid_backup" | "source_unavailable" | "not_found" | "invalid_input" | "busy" | "disk_full" | "io" | "stale" | "clock_changed" | "no_sources" | "no_destination" | "alert_failed" | "drill_failed" | "unproven" | "failed";

/**
 * The current problem, in words, with its action.
 */
export type Problem = { code: ErrorCode, message: string, action: Action, source: string | null, };

/**
 * Progress of one source in the run in progress.
 */
export type RunProgress = { source: string, table: string | null, rows: number, bytes: number | null, total: number | null, 
/**
 * The upload's rate and the time left at it.
 */
bytes_per_sec: number | null, eta_secs: number | null, };

/**
 * The kinds of destination, for display.
 */
export type DestinationKind = "folder" | "onedrive" | "s3";

/**
 * Where backups go, for display.
 */
export type DestinationView = { kind: DestinationKind, label: string, };

/**
 * The first-start checklist: what is done, what is left.
 */
export type SetupSteps = { 
/**
 * A source is registered.
 */
source: boolean, 
/**
 * A destination is chosen.
 */
destination: boolean, 
/**
 * Signed in to Microsoft; `None` when the destination needs no sign-in.
 */
signed_in: boolean | null, };

export type SourceStatus = { name: string, 
/**
 * A folder's points count files and bytes, a database's tables and rows.
 */
kind: SourceKind, path: string, added_at: string, keep_last: number | null, keep_days: number | null, last_backup: RestorePoint | null, 
/**
 * The newest restore point verified at the destination (with no
 * destination: the newest local copy, whose checksum was verified when written).
 */
last_verified: RestorePoint | null, restore_points: number, 
/**
 * Copies waiting to reach the destination.
 */
uploads_pending: number, 
/**
 * Why they wait (the last upload error), and its code.
 */
upload_error: string | null, upload_error_code: ErrorCode | null, 
/**
 * The newest drill that proved one of its restore points restorable.
 */
last_proven: Proof | null, };

/**
 * Everything the overview screen, the tray and `nuage status` need,
 * computed without a network call.
 */
export type Overview = { state: AppState, summary: string, problem: Problem | null, 
/**
 * While nothing is set up: the steps, done or not.
 */
setup: SetupSteps | null, paused: boolean, running: Array<RunProgress> | null, 
/**
 * Who is signed in (read from the keychain), if anyone.
 */
signed_in: string | null, destination: DestinationView | null, 
/**
 * The schedule setting: `off`, `every:N`, `daily:HH:MM`.
 */
schedule: string, 
/**
 * When the next scheduled run starts; none while nothing can be backed up.
 */
next_run: string | null, 
/**
 * The oldest of the sources' last verified backups: the time the
 * tray's tooltip gives ("everything is safe as of …").
 */
last_verified_at: string | null, sources: Array<SourceStatus>, };

/**
 * The engine's overview plus what only the shell knows.
 */
export type AppOverview = { 
/**
 * False when the desktop has no tray: the UI says so.
 */
tray_available: boolean, state: AppState, summary: string, problem: Problem | null, 
/**
 * While nothing is set up: the steps, done or not.
 */
setup: SetupSteps | null, paused: boolean, running: Array<RunProgress> | null, 
/**
 * Who is signed in (read from the keychain), if anyone.
 */
signed_in: string | null, destination: DestinationView | null, 
/**
 * The schedule setting: `off`, `every:N`, `daily:HH:MM`.
 */
schedule: string, 
/**
 * When the next scheduled run starts; none while nothing can be backed up.
 */
next_run: string | null, 
/**
 * The oldest of the sources' last verified backups: the time the
 * tray's tooltip gives ("everything is safe as of …").
 */
last_verified_at: string | null, sources: Array<SourceStatus>, };

/**
 * What the tray shows (or would show, without a tray).
 */
export type TrayShown = { available: boolean, state: AppState | null, line: string, 
/**
 * When the backups were last proven restorable by a drill (the
 * source proven longest ago), or that one is not yet.
 */
proof: string, };

/**
 * The kinds of source, as `source.kind` names them in backup documents and
 * in the state database.
 */
export type SourceKind = "sqlite" | "postgresql" | "folder";

/**
 * A registered source, as the state database keeps it.
 */
export type SourceRecord = { name: string, kind: SourceKind, path: string, keep_last: number | null, keep_days: number | null, added_at: string, 
/**
 * A folder's include and exclude patterns.
 */
options: SourceOptions, };

/**
 * How a source is opened besides its location: a folder's include and
 * exclude patterns (kept with the source), and, for a restore, the
 * relative paths to restore (all when empty).
 */
export type SourceOptions = { exclude: Array<string>, include: Array<string>, paths: Array<string>, 
/**
 * A folder: the cap of its local copy in bytes (0: none); unset, 1 GiB
 * while no destination is configured and none with one.
 */
local_copy?: number, };

/**
 * What a source holds, found without registering or modifying it (the
 * "add a source" form checks it on the spot).
 */
export type SourceCheck = { kind: SourceKind, path: string, suggested_name: string, tables: number, size_bytes: number, 
/**
 * SQLite: the journal mode (`wal`, `delete`, …); empty otherwise.
 */
journal_mode: string, 
/**
 * PostgreSQL: the server, the schemas kept and left out, and what
 * the kept ones reference outside them.
 */
postgresql: PgCheck | null, 
/**
 * A folder: its links and what is skipped (special files).
 */
folder: FolderCheck | null, };

/**
 * What a check of a PostgreSQL source found beyond the common counts.
 */
export type PgCheck = { server_version: string, 
/**
 * The schemas a backup keeps.
 */
schemas: Array<string>, 
/**
 * Schemas left out by default (the platform's: Supabase's `auth`,
 * `storage`, …).
 */
left_out: Array<string>, 
/**
 * What the kept schemas point at in schemas that are not kept (a
 * foreign key to `auth.users`): a restore needs them to exist.
 */
references: Array<Reference>, 
/**
 * What a backup does not capture (a foreign table, an aggregate…),
 * each as `kind name`.
 */
not_included: Array<string>, };

/**
 * What a folder's check found besides the totals.
 */
export type FolderCheck = { files: number, links: number, 
/**
 * Special files and unreadable entries, each with why.
 */
skipped: Array<string>, };

/**
 * What changed in a folder between two restore points.
 */
export type FolderChanges = { added: number, changed: number, removed: number, 
/**
 * Renamed or moved (same contents, another path).
 */
moved: number, };

/**
 * A drill that proved a restore point restorable.
 */
export type Proof = { at: string, 
/**
 * `local` (the local copy) or `destination`.
 */
place: string, };

/**
 * A reference from what is kept to a schema that is not (a foreign key to
 * `auth.users`): named when the source is added, so the person can
 * include that schema.
 */
export type Reference = { 
/**
 * "foreign key profiles_id_fkey on public.profiles"
 */
from: string, to_schema: string, to: string, };

/**
 * Where the copies of a restore point are.
 */
export type Location = "local" | "remote" | "both" | "missing";

/**
 * Where a restore point's upload to one destination stands.
 */
export type UploadState = "pending" | "verified" | "removed";

/**
 * A local copy that can be restored.
 */
export type RestorePoint = { id: string, source: string, created_at: string, size_bytes: number, tables: number, rows: number, checksum: string, 
/**
 * Where copies of this restore point exist.
 */
location: Location, 
/**
 * The upload state at the configured destination, if any.
 */
upload: UploadState | null, source_path: string, 
/**
 * A folder source's point: what changed since the previous point
 * (known when both manifests are here).
 */
changes?: FolderChanges, 
/**
 * The last time this point was proven restorable by a drill, and
 * from where.
 */
proven?: Proof, 
/**
 * A folder source's point with no destination: how many of its files
 * have no copy left on this machine (earlier versions beyond the
 * local copy's cap); such a point cannot be restored whole.
 */
missing_files?: number, };

/**
 * Restore points wherever they are. Those kept only at the destination
 * are listed when it can be reached; when it cannot, the local ones still
 * are, and `unreachable` says why the list may be partial.
 */
export type RestorePointList = { points: Array<RestorePoint>, unreachable: AppError | null, };

/**
 * What happened to one source in a backup run.
 */
export type RunOutcome = "backed_up" | "unchanged" | "failed";

/**
 * One recorded run of one source.
 */
export type RunRecord = { source: string, started_at: string, finished_at: string, outcome: RunOutcome, restore_point: string | null, bytes: number | null, error: string | null, error_code: ErrorCode | null, };

/**
 * What a restore would do, found by validating the whole backup into a
 * scratch database that is then deleted: nothing is touched.
 */
export type Preview = { source: string, 
/**
 * A folder's `tables` are its files (path and size), `rows` their bytes.
 */
kind: SourceKind, created_at: string, tables: Array<[string, number]>, rows: number, 
/**
 * The registered source's database a restore in place would replace.
 */
replaces: string | null, 
/**
 * A restore in place first keeps the current contents as a restore point.
 */
safety_copy: boolean, };

/**
 * What a restore did.
 */
export type RestoreReport = { target: string, source: string, 
/**
 * The kind restored: a folder's `tables` are its files (path and
 * size), its `rows` their bytes.
 */
kind: SourceKind, created_at: string, tables: Array<[string, number]>, rows: number, 
/**
 * The restore point holding the target's previous contents, when it was replaced.
 */
safety_point: string | null, 
/**
 * A raw copy of a previous target that could not be snapshotted.
 */
safety_file: string | null, 
/**
 * Which copy was read.
 */
copy: CopyUsed, 
/**
 * What could not be restored as it was, and why: the rest was.
 */
not_restored: Array<string>, };

/**
 * Which copy of a backup a restore read.
 */
export type CopyUsed = "local" | "repaired" | "destination" | "file";

/**
 * Which backup a preview or restore reads.
 */
export type BackupSelector = { "point": string } | { "file": string };

export type Lang = "en" | "fr" | "pt";

/**
 * When a channel is used.
 */
export type AlertOn = "failure" | "always";

export type WebhookFormat = "json" | "teams" | "slack";

export type EmailAlerts = { 
/**
 * `smtp://HOST[:PORT]` or `smtps://HOST[:PORT]`.
 */
server: string, 
/**
 * On `smtp://`: upgrade to TLS with STARTTLS (refused when the server
 * does not offer it).
 */
starttls: boolean, from: string, to: Array<string>, 
/**
 * The SMTP user; its password is in the keychain.
 */
user: string | null, on: AlertOn, };

export type WebhookAlerts = { format: WebhookFormat, on: AlertOn, 
/**
 * Where it points without its path and query (which carry its token):
 * `https://hooks.slack.com/…`. The URL itself is in the keychain.
 */
shown: string, };

export type AlertSettings = { email: EmailAlerts | null, webhook: WebhookAlerts | null, lang: Lang, };

/**
 * A problem the alerts told a person of, still open.
 */
export type AlertProblem = { source: string | null, code: string, message: string, since: string, };

/**
 * The alerts as they stand: settings, open problems, the outbox.
 */
export type AlertsView = { settings: AlertSettings, problems: Array<AlertProblem>, 
/**
 * Messages waiting to be sent (the server could not be reached yet).
 */
queued: number, 
/**
 * Why the oldest waiting message is not sent yet.
 */
last_error: string | null, email_last_sent: string | null, webhook_last_sent: string | null, };

/**
 * The result of a test message on one channel.
 */
export type AlertTest = { channel: string, sent: boolean, error: string | null, };

/**
 * The event stream: the CLI draws progress bars from it, the desktop app
 * forwards it to the UI and the tray.
 */
export type Event = { "event": "run_started", sources: Array<string>, } | { "event": "source_started", source: string, } | { "event": "snapshot_progress", source: string, table: string, rows: number, } | { "event": "source_finished", outcome: SourceOutcome, } | { "event": "run_finished", failed: number, } | { "event": "restore_progress", table: string, rows: number, } | { "event": "upload_progress", source: string, point: string, bytes: number, total: number, bytes_per_sec: number, eta_secs: number | null, } | { "event": "state_changed", overview: Overview, };

export type SourceOutcome = { source: string, 
/**
 * What kind of source it is: a folder's `tables` are its files and
 * its `rows` their bytes.
 */
kind: SourceKind, status: RunOutcome, 
/**
 * The new restore point, or for `unchanged` the one still current.
 */
id: string | null, size_bytes: number | null, tables: number | null, rows: number | null, error: string | null, error_code: ErrorCode | null, removed_by_retention: Array<string>, 
/**
 * A folder: files still being written, left for a later run (the
 * service looks again once they settle).
 */
unsettled: number, 
/**
 * What happened at the destination, when one is configured.
 */
upload: UploadOutcome | null, };

/**
 * The destination side of one source's run.
 */
export type UploadOutcome = { 
/**
 * `verified`: everything of this source is at the destination and
 * checked; `pending`: some copies wait for the next run (`error` says why).
 */
state: UploadState, 
/**
 * Restore points uploaded and verified during this run.
 */
uploaded: Array<string>, 
/**
 * Files removed at the destination by retention.
 */
removed: Array<string>, error: string | null, error_code: ErrorCode | null, };

/**
 * Who Nuage is signed in as, and the drive it writes to.
 */
export type Account = { 
/**
 * `user` (device sign-in) or `app` (client credentials).
 */
kind: string, name: string, drive_type: string | null, quota_total: number | null, quota_used: number | null, quota_remaining: number | null, };

/**
 * One folder shown by a folder picker.
 */
export type FolderEntry = { name: string, drive_id: string, item_id: string, child_count: number | null, };

/**
 * One page of a folder's subfolders; pass `next` back for the next page.
 */
export type FolderPage = { folders: Array<FolderEntry>, next: string | null, };

/**
 * The device code, as the sign-in screen shows it.
 */
export type DeviceCode = { user_code: string, verification_uri: string, expires_at: string, message: string, };

/**
 * The app registration signing in uses, as the sign-in screen shows it.
 */
export type Registration = { client_id: string, tenant: string, };

export type Settings = { schedule: string, notifications: boolean, autostart: boolean, language: string | null, system_language: string, 
/**
 * Days between scheduled restore drills; `None` when off.
 */
verify_every: number | null, };

/**
 * Where a bucket is, as a person names it: a preset or an endpoint. The
 * CLI's flags and the app's form both come down to this.
 */
export type S3Where = { "provider": "r2", account: string, } | { "provider": "aws", region: string, } | { "provider": "custom", endpoint: string, region: string | null, virtual_host: boolean, };

/**
 * What a person gives to set an S3 destination (the secret apart).
 */
export type S3Form = { where: S3Where, bucket: string, prefix: string, access_key_id: string, lock_days: number | null, };

/**
 * What a probe found of S3 Object Lock.
 */
export type LockFound = "enabled" | "available" | "unavailable" | "not_asked";

/**
 * What a look at an S3 bucket found (`nuage destination s3`, the app's
 * "test"): every step a backup needs worked, and what it could not use.
 */
export type S3Probe = { 
/**
 * "S3 bucket … at …"
 */
destination: string, 
/**
 * `path` (`https://endpoint/bucket/key`) or `virtual-host`
 * (`https://bucket.endpoint/key`).
 */
addressing: string, 
/**
 * S3 Object Lock, in words: `enabled`, `not available` (with why), or
 * `not asked for`.
 */
object_lock: string, 
/**
 * The same, for a front end to say in the person's language, with the
 * provider's reason when it is not available.
 */
lock: LockFound, lock_why: string | null, 
/**
 * Copies are written with a retention of this many days.
 */
lock_days: number | null, 
/**
 * The bucket, its endpoint and its folder prefix (for a label in the
 * person's language).
 */
bucket: string, endpoint: string, prefix: string, 
/**
 * The computer's clock was this many seconds off the provider's
 * (corrected when signing; worth setting right).
 */
clock_off_seconds: number, };

/**
 * The error every command returns.
 */
export type AppError = { code: ErrorCode, message: string, };
