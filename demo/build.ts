/** Builds the demo's page with Vite. */
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { DEFAULT_DIST } from "./server.js";

/**
 * Builds the page into `outDir`.
 * @example await buildDemo(); // then startDemo()
 */
export async function buildDemo(outDir = DEFAULT_DIST): Promise<void> {
  await build({
    configFile: fileURLToPath(new URL("./vite.config.ts", import.meta.url)),
    build: { outDir, emptyOutDir: true },
    logLevel: "warn",
  });
}
