/**
 * The package as a user installs it: `npm run build` output behind the
 * `exports` map (npm test builds first). Imports go through the package's own
 * name, as a dependent's would.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { expect } from "chai";

const entries = [
  "sse-notif",
  "sse-notif/server",
  "sse-notif/client",
  "sse-notif/solid",
  "sse-notif/redis",
  "sse-notif/metrics",
];

describe("package exports (built dist/)", () => {
  before(() => {
    if (!existsSync(new URL("../dist/server/index.js", import.meta.url))) {
      throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
    }
  });

  for (const entry of entries) {
    it(`resolves ${entry} to dist/ with its type declarations, in plain Node`, () => {
      const script = `console.log(import.meta.resolve(${JSON.stringify(entry)})); await import(${JSON.stringify(entry)});`;
      const url = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: new URL("..", import.meta.url),
        encoding: "utf8",
      }).trim();
      expect(url).to.match(/\/dist\/.+\.js$/);
      expect(existsSync(new URL(url.replace(/\.js$/, ".d.ts")))).to.equal(true);
    });
  }

  it("exports from . only the shared notifier definition, no internals", () => {
    const script = `console.log(JSON.stringify(Object.keys(await import("sse-notif")).sort()));`;
    const names = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("..", import.meta.url),
      encoding: "utf8",
    }).trim();
    expect(JSON.parse(names)).to.deep.equal(["defineNotifier"]);
  });

  it("serves a notification end to end through the built modules", async () => {
    const express = (await import("express")).default;
    const { createHub, defineNotifier } = await import("sse-notif/server");
    const hub = createHub();
    const app = express();
    app.use("/notif", hub.router());
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as { port: number };
    try {
      const n = hub.notifier(defineNotifier<string, string>("pkg"));
      const res = await fetch(`http://127.0.0.1:${port}/notif/events`);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const session = /"session":"([^"]+)"/.exec(first)?.[1] as string;
      await n.listen(session, "k");
      await n.notify("k", "built");
      let text = "";
      while (!text.includes("built")) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).to.match(
        /event: pkg\ndata: \{"key":"k","data":"built","pos":"[0-9a-z]+-1"\}\n\n/,
      );
      await reader.cancel();
    } finally {
      await hub.close();
      server.close();
    }
  });
});
