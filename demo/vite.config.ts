import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [solid()],
  // `npx vite demo` serves the page with hot reload next to `npm run demo`.
  server: { proxy: { "/api": "http://127.0.0.1:3000", "/notif": "http://127.0.0.1:3000" } },
});
