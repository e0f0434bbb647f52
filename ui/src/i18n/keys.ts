// The shape of a dictionary: the keys of `en` (the reference). Kept apart
// from index.ts so that fr.ts/pt.ts can be typed without importing index.ts,
// which imports them (no import cycle).
import type { en } from "./en";

export type Key = keyof typeof en;
export type Dict = Record<Key, string>;
