// The dictionaries and the current language. `en` is the reference: its keys
// are the type `Key`, and `fr`/`pt` must have exactly the same keys (checked by
// the compiler and by i18n.test.ts, which also checks the {placeholders}).
import { en } from "./en";
import { fr } from "./fr";
import type { Dict, Key } from "./keys";
import { pt } from "./pt";

export type { Dict, Key };
export type Lang = "en" | "fr" | "pt";
export type Params = Record<string, string | number>;

export const LANGS: readonly Lang[] = ["en", "fr", "pt"];
export const dictionaries: Record<Lang, Dict> = { en, fr, pt };

let current: Lang = "en";

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  if (typeof document !== "undefined") document.documentElement.lang = l;
}

/** The first candidate that names one of our languages ("fr-CA", "pt_BR.UTF-8" …), else English. */
export function resolveLang(...candidates: (string | null | undefined)[]): Lang {
  for (const c of candidates) {
    if (!c) continue;
    const prefix = c.toLowerCase().slice(0, 2);
    if ((LANGS as readonly string[]).includes(prefix)) return prefix as Lang;
  }
  return "en";
}

export function hasKey(k: string): k is Key {
  return Object.prototype.hasOwnProperty.call(en, k);
}

function fill(s: string, params?: Params): string {
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, name: string) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m,
  );
}

/** The translation of `key` in the current language, with `{name}` placeholders filled. */
export function t(key: Key, params?: Params): string {
  return fill(dictionaries[current][key] ?? en[key] ?? key, params);
}

/** Keys that come in plural forms: `base.one`, `base.other` (and optionally `base.many` …). */
type BaseOf<K> = K extends `${infer B}.other` ? B : never;
export type PluralBase = BaseOf<Key>;

/** `tp("count.tables", 12)` → "12 tables"; `{n}` is the formatted number. */
export function tp(base: PluralBase, n: number, params?: Params): string {
  const rule = new Intl.PluralRules(current).select(n);
  const d = dictionaries[current] as Record<string, string>;
  const s = d[`${base}.${rule}`] ?? d[`${base}.other`] ?? base;
  return fill(s, { n: new Intl.NumberFormat(current).format(n), ...params });
}
