import { afterEach, expect, test } from "vitest";
import type { RunRecord } from "../api";
import { $$, boot, click, settings, teardown, until } from "../test/harness";

afterEach(teardown);

const runs: RunRecord[] = [
  { source: "shop", started_at: "2024-05-03T08:00:00Z", finished_at: "2024-05-03T08:01:05Z", outcome: "backed_up", restore_point: "p1", bytes: 3 * 1024 * 1024, error: null, error_code: null },
  { source: "crm", started_at: "2024-05-03T07:00:00Z", finished_at: "2024-05-03T07:00:02Z", outcome: "failed", restore_point: null, bytes: null, error: "database is locked", error_code: "busy" },
];

test("history rows: outcome, duration, size, error", async () => {
  const { backend } = await boot({ history: () => runs });
  await click("#nav-history");
  await until(() => expect($$(".history-row")).toHaveLength(2));
  expect(backend.called("history")).toEqual([{ limit: 100 }]);
  const [ok, failed] = $$(".history-row");
  expect(ok.dataset.outcome).toBe("backed_up");
  expect(ok.textContent).toContain("Backed up");
  expect(ok.textContent).toContain("1 min 5 s");
  expect(ok.textContent).toContain("3 MB");
  expect(failed.textContent).toContain("Failed");
  expect(failed.textContent).toContain("database is locked");
});

test("history in Portuguese", async () => {
  await boot({ history: () => runs, settings: () => settings({ language: "pt" }) });
  await click("#nav-history");
  await until(() => expect($$(".history-row")).toHaveLength(2));
  expect($$(".history-row")[0].textContent).toContain("Copiada");
  expect($$(".history-row")[1].textContent).toContain("Falhou");
});
