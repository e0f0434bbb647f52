// The system file dialogs (tauri-plugin-dialog). Each resolves to a path, or
// null when the person closes the dialog.
import { open, save } from "@tauri-apps/plugin-dialog";

export const SQLITE_FILTERS = [
  { name: "SQLite", extensions: ["db", "sqlite", "sqlite3", "db3"] },
  { name: "All files", extensions: ["*"] },
];

function one(p: string | string[] | null): string | null {
  if (Array.isArray(p)) return p[0] ?? null;
  return p ?? null;
}

export async function pickDatabase(): Promise<string | null> {
  return one(await open({ filters: SQLITE_FILTERS }));
}

export async function pickDirectory(): Promise<string | null> {
  return one(await open({ directory: true }));
}

export async function pickBackupFile(): Promise<string | null> {
  return one(await open({ filters: [{ name: "JSON", extensions: ["json", "zst"] }] }));
}

export async function pickJsonSave(defaultPath: string): Promise<string | null> {
  return await save({ defaultPath, filters: [{ name: "JSON", extensions: ["json"] }] });
}

export async function pickDatabaseSave(defaultPath: string): Promise<string | null> {
  return await save({ defaultPath, filters: [{ name: "SQLite", extensions: ["db", "sqlite", "sqlite3", "db3"] }] });
}
