import { isAppError, type ErrorCode } from "./api";
import { t, type Key } from "./i18n";

/** Every code of the generated ErrorCode, worded (the compiler wants them all). */
const HEADLINES: Record<ErrorCode, Key> = {
  sign_in_required: "error.sign_in_required",
  sign_in_declined: "error.sign_in_declined",
  sign_in_expired: "error.sign_in_expired",
  cancelled: "error.cancelled",
  keychain_unavailable: "error.keychain_unavailable",
  offline: "error.offline",
  throttled: "error.throttled",
  destination_full: "error.destination_full",
  destination_unavailable: "error.destination_unavailable",
  hash_mismatch: "error.hash_mismatch",
  invalid_backup: "error.invalid_backup",
  source_unavailable: "error.source_unavailable",
  not_found: "error.not_found",
  invalid_input: "error.invalid_input",
  busy: "error.busy",
  disk_full: "error.disk_full",
  io: "error.io",
  stale: "error.stale",
  clock_changed: "error.clock_changed",
  no_sources: "error.no_sources",
  no_destination: "error.no_destination",
  alert_failed: "error.alert_failed",
  drill_failed: "error.drill_failed",
  unproven: "error.unproven",
  failed: "error.failed",
};

/**
 * The translated headline of an error or problem code; a code this UI does
 * not know (a newer shell) gets a generic one.
 */
export function headline(code: ErrorCode | string | null | undefined): string {
  const key = code && Object.hasOwn(HEADLINES, code) ? HEADLINES[code as ErrorCode] : null;
  return key ? t(key) : t("error.generic");
}

export interface ErrorParts {
  code: string;
  headline: string;
  message: string;
}

/** Any rejection (AppError, Error, string) as a code, a translated headline and a detail. */
export function errorParts(e: unknown): ErrorParts {
  if (isAppError(e)) return { code: String(e.code), headline: headline(String(e.code)), message: String(e.message) };
  if (e instanceof Error) return { code: "failed", headline: headline("failed"), message: e.message };
  return { code: "failed", headline: headline("failed"), message: typeof e === "string" ? e : "" };
}

export function errorText(e: unknown): string {
  const p = errorParts(e);
  return p.message ? `${p.headline} ${p.message}` : p.headline;
}

export function errorCode(e: unknown): string | null {
  return isAppError(e) ? String(e.code) : null;
}
