import { defineConfig } from "vitest/config";

// The app's CSP is `default-src 'self'; script-src 'self'; style-src 'self'`:
// the build must emit only external scripts and stylesheets (no inline code,
// no modulepreload polyfill snippet, no inlined assets).
export default defineConfig({
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2021",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
    restoreMocks: true,
  },
});
