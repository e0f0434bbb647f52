// Numbers, sizes, dates and durations in the current language, through Intl.
import { lang, t, tp } from "./i18n";

export function fmtNumber(n: number): string {
  return new Intl.NumberFormat(lang()).format(n);
}

const UNITS = ["unit.b", "unit.kb", "unit.mb", "unit.gb", "unit.tb"] as const;

/** 3250585 → "3.1 MB" (binary multiples, one decimal at most). */
export function fmtBytes(n: number): string {
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const num = new Intl.NumberFormat(lang(), { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v);
  return t("size", { n: num, unit: t(UNITS[i]) });
}

function parse(iso: string): Date | null {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2 hours ago", "in 5 minutes", "now". */
export function fmtRelative(iso: string, now: number = Date.now()): string {
  const d = parse(iso);
  if (!d) return iso;
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: "auto" });
  const sec = (d.getTime() - now) / 1000;
  const abs = Math.abs(sec);
  if (abs < 45) return rtf.format(0, "second");
  if (abs < 45 * 60) return rtf.format(Math.round(sec / 60), "minute");
  if (abs < 22 * 3600) return rtf.format(Math.round(sec / 3600), "hour");
  if (abs < 26 * 86400) return rtf.format(Math.round(sec / 86400), "day");
  if (abs < 320 * 86400) return rtf.format(Math.round(sec / (30 * 86400)), "month");
  return rtf.format(Math.round(sec / (365 * 86400)), "year");
}

export function fmtDateTime(iso: string, dateStyle: "medium" | "short" = "medium"): string {
  const d = parse(iso);
  if (!d) return iso;
  return new Intl.DateTimeFormat(lang(), { dateStyle, timeStyle: "short" }).format(d);
}

export function fmtTime(d: Date): string {
  return new Intl.DateTimeFormat(lang(), { hour: "2-digit", minute: "2-digit" }).format(d);
}

function dayNumber(d: Date): number {
  return Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / 86400000;
}

/** "Next backup: today 14:30" / "tomorrow 07:30" / "Monday 3 June 07:30". */
export function fmtNextRun(iso: string, now: Date = new Date()): string {
  const d = parse(iso);
  if (!d) return t("overview.next_date", { date: iso });
  const days = dayNumber(d) - dayNumber(now);
  if (days <= 0) return t("overview.next_today", { time: fmtTime(d) });
  if (days === 1) return t("overview.next_tomorrow", { time: fmtTime(d) });
  const date = new Intl.DateTimeFormat(lang(), {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
  }).format(d);
  return t("overview.next_date", { date });
}

/** 65 000 ms → "1 min 5 s". */
export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return t("duration.s", { s: fmtNumber(s) });
  const m = Math.floor(s / 60);
  if (m < 60) return t("duration.ms", { m: fmtNumber(m), s: fmtNumber(s % 60) });
  return t("duration.hm", { h: fmtNumber(Math.floor(m / 60)), m: fmtNumber(m % 60) });
}

/** 125 000 ms → "02:05". */
export function fmtCountdown(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = Math.floor(s / 60);
  return `${String(mm).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** "12 tables · 48,210 rows · 3.1 MB" for a restore point or check. */
export function fmtCounts(tables: number, rows: number, bytes: number): string {
  return t("counts", {
    tables: tp("count.tables", tables),
    rows: tp("count.rows", rows),
    size: fmtBytes(bytes),
  });
}

/** A local YYYY-MM-DD for file names. */
export function isoDay(iso: string): string {
  const d = parse(iso) ?? new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
