// What every view gets from the app: the latest overview and settings, live
// progress, navigation and the global result area.
import type { Account, EngineEvent, Overview, Settings } from "./api";

export const VIEW_NAMES = ["overview", "sources", "destination", "restore", "history", "settings"] as const;
export type ViewName = (typeof VIEW_NAMES)[number];

/** Live progress of one source, from `overview.running` and the engine's events. */
export interface LiveProgress {
  table: string | null;
  rows: number;
  bytes: number | null;
  total: number | null;
}

/** The account details fetched lazily for the signed-in name `for`. */
export type AccountState =
  | { for: string; status: "loading" }
  | { for: string; status: "ok"; account: Account }
  | { for: string; status: "error"; error: unknown };

export type ResultKind = "success" | "error" | "info";

export interface View {
  el: HTMLElement;
  /** The overview was fetched again (ctx.overview is the new one). */
  onOverview?(): void;
  /** An engine event arrived (after the app updated ctx.progress). */
  onEvent?(e: EngineEvent): void;
  destroy?(): void;
}

export interface Ctx {
  overview: Overview | null;
  overviewError: unknown;
  settings: Settings | null;
  progress: Map<string, LiveProgress>;
  account: AccountState | null;
  view: ViewName;
  go(view: ViewName): void;
  refreshOverview(): Promise<void>;
  /** Shows a line in the global `#result` area. */
  result(kind: ResultKind, text: string): void;
  /** Shows a failed command in `#result`: translated headline + the message. */
  error(e: unknown): void;
  openSignIn(): void;
  setLanguage(language: string | null): Promise<void>;
}
