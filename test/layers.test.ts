/**
 * The layering the file tree promises: `protocol/` is shared and imports
 * neither side; `server/` and `client/` never import each other (type imports
 * included). Import cycles among source files are Biome's `noImportCycles`
 * (`ignoreTypes: false`), run by `npm run lint` in `npm test`. The layout
 * tables of docs/ARCHITECTURE.md name every source file, and only those.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";

const root = new URL("..", import.meta.url).pathname;
const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/gms;

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Relative imports of a file that leave its folder for one of `folders`. */
function crossings(dir: string, folders: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of sources(dir)) {
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = join(file, "..", match[1] as string);
      if (folders.some((folder) => target.startsWith(join(root, folder, "/")))) {
        found.push(`${file.slice(root.length)} → ${match[1]}`);
      }
    }
  }
  return found;
}

describe("source layers", () => {
  it("finds the imports it checks (the check can fail)", () => {
    expect(crossings("server", ["protocol"])).to.not.be.empty;
    expect(crossings("client", ["protocol"])).to.not.be.empty;
  });

  it("server/ imports nothing from client/", () => {
    expect(crossings("server", ["client"])).to.deep.equal([]);
  });

  it("client/ imports nothing from server/", () => {
    expect(crossings("client", ["server"])).to.deep.equal([]);
  });

  it("protocol/ imports neither side", () => {
    expect(crossings("protocol", ["server", "client"])).to.deep.equal([]);
  });
});

describe("docs/ARCHITECTURE.md", () => {
  const doc = readFileSync(join(root, "docs/ARCHITECTURE.md"), "utf8");
  const listed = [...doc.matchAll(/^\| `((?:protocol|server|client)\/[\w.-]+\.tsx?)` \|/gm)].map(
    (match) => match[1] as string,
  );
  const files = ["protocol", "server", "client"]
    .flatMap((dir) => sources(dir))
    .map((file) => file.slice(root.length));

  it("finds the rows it checks (the check can fail)", () => {
    expect(listed.length).to.be.greaterThan(50);
    expect(listed).to.include("server/hub.ts");
  });

  it("lists every source file in its layout tables once, and no other", () => {
    expect([...listed].sort()).to.deep.equal([...files].sort());
  });
});
