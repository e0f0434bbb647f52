import { isAppError } from "./api";
import { hasKey, t } from "./i18n";

/** The translated headline of an error or problem code ("stale", "no_sources" included). */
export function headline(code: string | null | undefined): string {
  const key = `error.${code ?? ""}`;
  return hasKey(key) ? t(key) : t("error.generic");
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
