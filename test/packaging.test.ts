/**
 * What the package ships (issue 11): the MIT LICENSE package.json names,
 * source maps that carry their sources (the `.ts` files are not in the
 * tarball), and browser builds without the Node `eventsource` fallback
 * (checked on the demo's real Vite build).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

describe("packaging", function () {
  this.timeout(120_000);

  it("ships an MIT LICENSE, as package.json says", async () => {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      license: string;
      files: string[];
    };
    expect(pkg.license).to.equal("MIT");
    const license = await readFile(join(root, "LICENSE"), "utf8");
    expect(license).to.match(/^MIT License\n/);
    expect(license).to.contain("Permission is hereby granted, free of charge");
    expect(pkg.files).to.include("LICENSE");
  });

  it("ships source maps whose sources are inside them, for every file of the tarball", async () => {
    if (!existsSync(join(root, "dist/server/index.js")))
      throw new Error("run `npm run build` first");
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]?.files ?? [];
    const paths = new Set(files.map((file) => file.path));
    expect(paths.has("LICENSE")).to.equal(true);
    const maps = [...paths].filter((path) => path.endsWith(".map"));
    expect(maps.length).to.be.greaterThan(10);
    for (const path of maps) {
      const map = JSON.parse(await readFile(join(root, path), "utf8")) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      map.sources.forEach((source, i) => {
        const inTarball = paths.has(join(path, "..", source));
        const inline = typeof map.sourcesContent?.[i] === "string";
        expect(inTarball || inline, `${path} → ${source}`).to.equal(true);
      });
    }
  });

  it("keeps the Node eventsource fallback out of the demo's browser build", async () => {
    const out = await mkdtemp(join(tmpdir(), "sse-notif-pack-"));
    try {
      const vite = join(root, "node_modules/vite/bin/vite.js");
      await run(
        process.execPath,
        [
          vite,
          "build",
          "--config",
          "demo/vite.config.ts",
          "--outDir",
          out,
          "--emptyOutDir",
          "--logLevel",
          "warn",
        ],
        { cwd: root, env: { ...process.env, NODE_OPTIONS: "" } },
      );
      const assets = await readdir(join(out, "assets"));
      const scripts = assets.filter((name) => name.endsWith(".js"));
      expect(scripts).to.have.length(1); // the page's one bundle, no lazy chunk
      const text = await readFile(join(out, "assets", scripts[0] as string), "utf8");
      // Marks of the `eventsource` package's code (its ErrorEvent class and its parser).
      expect(text).not.to.contain("class ErrorEvent extends Event");
      expect(text).not.to.contain("createParser");
      expect(text).to.contain("X-Notif-Session"); // the client is in it
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
