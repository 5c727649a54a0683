import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/** The cross-origin page-hide test's page: one ES module, unminified, built in well under a second. */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  logLevel: "warn",
  build: {
    lib: { entry: "page.ts", formats: ["es"], fileName: () => "page.js" },
    minify: false,
    emptyOutDir: true,
  },
});
