/** `npm run demo`: builds the page, then serves it with the hub. */
import { buildDemo } from "./build.js";
import { startDemo } from "./server.js";

await buildDemo();
const demo = await startDemo();
console.log(`sse-notif demo: ${demo.url}  (open it in two browsers, log in as two people)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void demo.close().then(() => process.exit(0)));
}
