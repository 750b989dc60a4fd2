// The layers of src/ (issue 9, item 10), checked on the source text: a forbidden import fails here
// before review has to find it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

// Compiled to dist/test/unit: the sources are three levels up.
const SRC = path.resolve(__dirname, "..", "..", "..", "src");

interface Rule {
  /** Folder under src/ whose files are checked. */
  from: string;
  /** What no file there may import: a folder under src/, or a package name. */
  forbidden: string;
  why: string;
}

export const RULES: Rule[] = [
  { from: "cluster", forbidden: "replica", why: "cluster/ is below replica/; orchestrate both from src/orchestrate" },
  { from: "cluster", forbidden: "orchestrate", why: "orchestrate/ sits above cluster/" },
  { from: "replica", forbidden: "orchestrate", why: "orchestrate/ sits above replica/" },
  { from: "config", forbidden: "cluster", why: "the config is read before anything runs; cluster/ depends on it, not the reverse" },
  { from: "docker", forbidden: "cluster", why: "src/docker is the engine boundary and knows nothing of clusters" },
  { from: "jobs", forbidden: "docker", why: "jobs run inside the agent image, which has no Docker socket: the host hands them over (src/handoff)" },
  { from: "agent", forbidden: "docker", why: "the agent container has no Docker socket" },
  { from: "metrics", forbidden: "docker", why: "the database metrics are collected inside the agent container, which has no Docker socket" },
  { from: "wal", forbidden: "docker", why: "WAL archiving runs inside the agent container, which has no Docker socket" },
  { from: "cluster", forbidden: "upgrade", why: "upgrade/ moves a whole cluster: it sits above cluster/, replica/ and orchestrate/" },
  { from: "orchestrate", forbidden: "upgrade", why: "upgrade/ sits above orchestrate/ (its failure path runs upCluster)" },
  { from: "monitoring", forbidden: "docker", why: "alert rules come from the config alone: `monitoring rules` needs no engine" },
];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** Every module specifier a file imports or re-exports (static or dynamic). */
export function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*["']([^"']+)["']/g)) {
    if (match[1]) specifiers.push(match[1]);
  }
  return specifiers;
}

/** The top folder under src/ that a relative import of `file` points into, or the package name. */
function target(file: string, specifier: string): string {
  if (!specifier.startsWith(".")) return specifier;
  return path.relative(SRC, path.resolve(path.dirname(file), specifier)).split(path.sep)[0] ?? "";
}

export function violations(files: ReadonlyArray<{ file: string; source: string }>): string[] {
  const found: string[] = [];
  for (const { file, source } of files) {
    const folder = path.relative(SRC, file).split(path.sep)[0];
    for (const specifier of importsOf(source)) {
      const into = target(file, specifier);
      if (into === "dockerode" && folder !== "docker") found.push(`${path.relative(SRC, file)} imports dockerode: only src/docker may`);
      for (const rule of RULES) {
        if (folder === rule.from && into === rule.forbidden) found.push(`${path.relative(SRC, file)} imports ${specifier}: ${rule.why}`);
      }
    }
  }
  return found;
}

describe("layering of src/", function () {
  it("holds: no forbidden import anywhere in src/", function () {
    const files = sourceFiles(SRC).map((file) => ({ file, source: readFileSync(file, "utf8") }));
    assert.ok(files.length > 50, `found only ${files.length} source files under ${SRC}`);
    assert.deepEqual(violations(files), []);
  });

  it("finds a forbidden import, a re-export and a dockerode import", function () {
    const file = path.join(SRC, "cluster", "example.ts");
    assert.deepEqual(
      violations([
        { file, source: 'import { addReplica } from "../replica/add";\nimport { x } from "./plan";' },
        { file: path.join(SRC, "config", "x.ts"), source: 'export type { TunedSettings } from "../cluster/tuning";' },
        { file: path.join(SRC, "backup", "x.ts"), source: 'import Dockerode from "dockerode";' },
      ]),
      [
        "cluster/example.ts imports ../replica/add: cluster/ is below replica/; orchestrate both from src/orchestrate",
        "config/x.ts imports ../cluster/tuning: the config is read before anything runs; cluster/ depends on it, not the reverse",
        "backup/x.ts imports dockerode: only src/docker may",
      ],
    );
  });
});
