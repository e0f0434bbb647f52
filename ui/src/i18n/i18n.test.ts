import { afterEach, describe, expect, test } from "vitest";
import { dictionaries, LANGS, resolveLang, setLang, t, tp } from "./index";
import { fmtBytes, fmtCountdown, fmtDuration, fmtRelative } from "../format";
import { $, boot, check, settings, teardown, text, until } from "../test/harness";

afterEach(teardown);

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("dictionaries", () => {
  const en = dictionaries.en as Record<string, string>;

  test.each(["fr", "pt"] as const)("%s has exactly the keys of en", (l) => {
    const other = dictionaries[l] as Record<string, string>;
    expect(Object.keys(other).sort()).toEqual(Object.keys(en).sort());
  });

  test.each(LANGS)("%s has no empty string", (l) => {
    for (const [k, v] of Object.entries(dictionaries[l])) expect(v.trim(), `${l}:${k}`).not.toBe("");
  });

  test.each(["fr", "pt"] as const)("%s uses the same {placeholders} as en", (l) => {
    const other = dictionaries[l] as Record<string, string>;
    for (const k of Object.keys(en)) expect(placeholders(other[k] ?? ""), `${l}:${k}`).toEqual(placeholders(en[k]));
  });

  test("every plural has a one and an other form", () => {
    const keys = Object.keys(en);
    expect(keys.filter((k) => k.endsWith(".other")).length).toBeGreaterThan(3);
    for (const k of keys) {
      if (k.endsWith(".one")) expect(keys, k).toContain(k.replace(/\.one$/, ".other"));
      if (k.endsWith(".other")) expect(keys, k).toContain(k.replace(/\.other$/, ".one"));
    }
  });

  test("French and Portuguese are actually translated", () => {
    const same = Object.keys(en).filter((k) => (dictionaries.fr as Record<string, string>)[k] === en[k]);
    // Names, symbols and formats may stay the same; sentences may not.
    const words = (s: string) => s.replace(/\{\w+\}/g, "").match(/\p{L}{2,}/gu) ?? [];
    expect(same.filter((k) => words(en[k]).length > 1)).toEqual([]);
    const samePt = Object.keys(en).filter((k) => (dictionaries.pt as Record<string, string>)[k] === en[k]);
    expect(samePt.filter((k) => words(en[k]).length > 1)).toEqual([]);
    expect(dictionaries.fr["overview.back_up_now"]).toBe("Sauvegarder maintenant");
    expect(dictionaries.pt["state.up_to_date"]).toBe("Atualizado");
  });
});

describe("language helpers", () => {
  test("resolveLang takes the first known language", () => {
    expect(resolveLang(null, "fr-CA", "en-US")).toBe("fr");
    expect(resolveLang(undefined, "pt_BR.UTF-8")).toBe("pt");
    expect(resolveLang("de-DE", "es")).toBe("en");
    expect(resolveLang("pt", "fr")).toBe("pt");
  });

  test("plurals and numbers follow the language", () => {
    setLang("en");
    expect(tp("count.rows", 1)).toBe("1 row");
    expect(tp("count.rows", 48210)).toBe("48,210 rows");
    setLang("fr");
    expect(tp("count.rows", 48210).replace(/\s/g, " ")).toBe("48 210 lignes");
    expect(fmtBytes(Math.round(3.1 * 1024 * 1024))).toBe("3,1 Mo");
    setLang("pt");
    expect(tp("count.tables", 12)).toBe("12 tabelas");
    expect(t("signin.success", { name: "Ana" })).toBe("Sessão iniciada como Ana");
  });

  test("formats", () => {
    setLang("en");
    expect(fmtBytes(512)).toBe("512 B");
    expect(fmtBytes(5 * 1024 ** 3)).toBe("5 GB");
    expect(fmtCountdown(125_000)).toBe("02:05");
    expect(fmtCountdown(-5)).toBe("00:00");
    expect(fmtDuration(65_000)).toBe("1 min 5 s");
    const now = Date.now();
    expect(fmtRelative(new Date(now - 2 * 3600_000).toISOString(), now)).toBe("2 hours ago");
    setLang("fr");
    expect(fmtRelative(new Date(now - 2 * 3600_000).toISOString(), now)).toBe("il y a 2 heures");
  });
});

describe("switching language", () => {
  test("the app starts in the saved language, else the system's", async () => {
    await boot({ settings: () => settings({ language: "pt" }) });
    expect(text("#state-badge")).toBe("Atualizado");
    expect(document.documentElement.lang).toBe("pt");
    teardown();
    await boot({ settings: () => settings({ language: null, system_language: "fr" }) });
    expect(text("#state-badge")).toBe("À jour");
    expect(text("#nav-settings")).toBe("Paramètres");
  });

  test("choosing French in settings saves it and re-renders at once", async () => {
    let language: string | null = "en";
    const { backend } = await boot({
      settings: () => settings({ language }),
      set_language: (a) => {
        language = a.language;
        return null;
      },
    });
    expect(text("#state-badge")).toBe("Up to date");
    $("#nav-settings").click();
    await until(() => expect($("#language")).toBeTruthy());
    const select = $("#language") as HTMLSelectElement;
    select.value = "fr";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    await until(() => expect(text("#state-badge")).toBe("À jour"));
    expect(backend.called("set_language")).toEqual([{ language: "fr" }]);
    expect(text("#nav-overview")).toBe("Vue d'ensemble");
    expect(text("#settings-title")).toBe("Paramètres");
    expect(($("#language") as HTMLSelectElement).value).toBe("fr");
    // And back to the system language (English here).
    const again = $("#language") as HTMLSelectElement;
    again.value = "";
    again.dispatchEvent(new Event("change", { bubbles: true }));
    await until(() => expect(text("#state-badge")).toBe("Up to date"));
    expect(backend.called("set_language")[1]).toEqual({ language: null });
  });

  test("a failed language change keeps the current language", async () => {
    await boot({ set_language: () => Promise.reject({ code: "failed", message: "Disk error." }) });
    $("#nav-settings").click();
    await until(() => expect($("#language")).toBeTruthy());
    const select = $("#language") as HTMLSelectElement;
    select.value = "fr";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    await until(() => expect(text("#result")).toContain("Disk error."));
    expect(text("#state-badge")).toBe("Up to date");
    expect(select.value).toBe("en");
    await check("#notifications", true);
  });
});
