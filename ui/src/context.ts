// What every view gets from the app: the latest overview and settings, live
// progress, navigation and the global result area.
import type { Account, AppOverview, EngineEvent, RunProgress, Settings } from "./api";

export const VIEW_NAMES = ["overview", "sources", "destination", "restore", "history", "settings"] as const;
export type ViewName = (typeof VIEW_NAMES)[number];

/** The account details fetched lazily for the signed-in name `for`. */
export type AccountState =
  | { for: string; status: "loading" }
  | { for: string; status: "ok"; account: Account }
  | { for: string; status: "error"; error: unknown };

export type ResultKind = "success" | "error" | "info";

export interface View {
  el: HTMLElement;
  /** A new overview arrived, fetched or carried by a state_changed event (ctx.overview is the new one). */
  onOverview?(): void;
  /** An engine event arrived (after the app updated ctx.progress). */
  onEvent?(e: EngineEvent): void;
  destroy?(): void;
}

export interface Ctx {
  overview: AppOverview | null;
  overviewError: unknown;
  settings: Settings | null;
  /** Live progress of each source being backed up, from `overview.running` and the engine's events. */
  progress: Map<string, RunProgress>;
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
