import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { parseJsonText, readJsonFile, writeJsonFileAtomic } from "../../../src/state/json-file";
import { OrphanJournal } from "../../../src/backup/targets/orphans";
import { readTopology, writeTopology } from "../../../src/cluster/topology";
import { StateFileError } from "../../../src/errors";

const Schema = z.object({ name: z.string(), count: z.number().int() });

describe("json-file", function () {
  let directory: string;
  beforeEach(async function () {
    directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-json-"));
  });
  afterEach(async function () {
    await rm(directory, { recursive: true, force: true });
  });

  it("parses a valid file", async function () {
    const file = path.join(directory, "a.json");
    await writeFile(file, '{"name":"x","count":3}');
    assert.deepEqual(await readJsonFile(file, Schema), { ok: true, value: { name: "x", count: 3 } });
  });

  it("says absent for a missing file", async function () {
    const read = await readJsonFile(path.join(directory, "missing.json"), Schema);
    assert.equal(read.ok, false);
    assert.equal(!read.ok && read.problem, "absent");
  });

  it("says not JSON for a file truncated to half its bytes, naming the file", function () {
    const text = JSON.stringify({ name: "a long enough name", count: 12345 });
    const read = parseJsonText(text.slice(0, text.length / 2), Schema, "backups/x/manifest.json");
    assert.ok(!read.ok);
    assert.equal(read.problem, "not-json");
    assert.match(read.reason, /^backups\/x\/manifest\.json is not JSON \(\d+ bytes: /);
  });

  it("says which fields are wrong for {} and for wrong types", function () {
    const empty = parseJsonText("{}", Schema, "m.json");
    assert.ok(!empty.ok);
    assert.equal(empty.problem, "schema");
    assert.match(empty.reason, /name: .*; count: /);
    const wrong = parseJsonText('{"name": 1, "count": "2"}', Schema, "m.json");
    assert.ok(!wrong.ok);
    assert.match(wrong.reason, /name: .*expected string/i);
    const notObject = parseJsonText("null", Schema, "m.json");
    assert.ok(!notObject.ok && notObject.problem === "schema");
  });

  it("writes atomically: the new content, no temporary file left, the mode asked for", async function () {
    const file = path.join(directory, "sub", "state.json");
    await writeJsonFileAtomic(file, { name: "one", count: 1 });
    await writeJsonFileAtomic(file, { name: "two", count: 2 }, { mode: 0o644 });
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), { name: "two", count: 2 });
    assert.deepEqual(await readdir(path.dirname(file)), ["state.json"]);
  });

  it("topology: absent is the default, corrupt is a StateFileError naming the file, never 'primary'", async function () {
    assert.deepEqual(await readTopology(directory), { primary: "primary" });
    await writeTopology(directory, { primary: "r1", promotedAt: "2026-12-01T00:00:00Z" });
    assert.equal((await readTopology(directory)).primary, "r1");
    await writeFile(path.join(directory, "topology.json"), '{"primary": "r');
    await assert.rejects(readTopology(directory), (error: unknown) => {
      assert.ok(error instanceof StateFileError);
      assert.match(error.message, /topology\.json is not JSON/);
      assert.match(error.hint, /write \{"primary": "<node>"\}/);
      return true;
    });
    await writeFile(path.join(directory, "topology.json"), "{}");
    await assert.rejects(readTopology(directory), StateFileError);
  });

  it("orphan journal: a corrupt one is set aside with a warning and a new one started", async function () {
    const file = path.join(directory, "s3-orphaned-uploads.json");
    const warnings: string[] = [];
    const journal = new OrphanJournal(file, (message) => warnings.push(message));
    await journal.add("a/b");
    assert.deepEqual(await journal.keys(), ["a/b"]);
    await writeFile(file, '{"keys": ["a/b"');
    await journal.add("c/d");
    assert.deepEqual(await journal.keys(), ["c/d"]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /is not JSON.*moved it to .*\.corrupt-/);
    const names = (await readdir(directory)).sort();
    assert.equal(names.length, 2);
    assert.match(names[0] ?? "", /^s3-orphaned-uploads\.json$/);
    assert.match(names[1] ?? "", /^s3-orphaned-uploads\.json\.corrupt-/);
    assert.equal(await readFile(path.join(directory, names[1] ?? ""), "utf8"), '{"keys": ["a/b"');
  });
});
