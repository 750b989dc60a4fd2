import assert from "node:assert/strict";
import { classifyManifest, type BackupDirectory } from "../../../src/backup/catalog";
import type { BackupManifest } from "../../../src/backup/manifest";
import { ManifestSchema } from "../../../src/backup/manifest";
import { parseJsonText } from "../../../src/state/json-file";

const MANIFEST: BackupManifest = {
  formatVersion: 1,
  id: "20261201T030000Z-abc123",
  cluster: "app",
  kind: "logical",
  job: null,
  source: "app-primary",
  files: [{ name: "app.pgcustom.zst", content: "database", database: "app", bytes: 10, rawBytes: 20, sha256: "a".repeat(64), compression: "zstd" }],
  pgVersion: "15.18",
  databases: ["app"],
  startedAt: "2026-12-01T03:00:00Z",
  finishedAt: "2026-12-01T03:00:05Z",
  tool: { name: "pgfort", version: "0.1.0" },
  compression: { method: "zstd", level: 3 },
};
const DIRECTORY: BackupDirectory = { cluster: "app", kind: "logical", id: MANIFEST.id, files: ["app.pgcustom.zst", "manifest.json"] };

function classify(text: string | undefined, directory = DIRECTORY) {
  return classifyManifest(directory, parseJsonText(text, ManifestSchema, "app/logical/x/manifest.json"));
}

describe("catalog: which backups are complete", function () {
  it("a valid manifest that names its directory and whose files are there is complete", function () {
    assert.deepEqual(classify(JSON.stringify(MANIFEST)), { manifest: MANIFEST, reason: null });
  });

  it("no manifest, half a manifest, {} and wrong types are incomplete with the reason", function () {
    assert.match(classify(undefined).reason ?? "", /^no manifest\.json/);
    const text = JSON.stringify(MANIFEST);
    const half = classify(text.slice(0, text.length / 2));
    assert.equal(half.manifest, null);
    assert.match(half.reason ?? "", /manifest\.json is not JSON/);
    assert.match(classify("{}").reason ?? "", /is not a valid file of its kind \(formatVersion: /);
    assert.match(classify(JSON.stringify({ ...MANIFEST, files: "none" })).reason ?? "", /files: /);
    assert.match(classify(JSON.stringify({ ...MANIFEST, files: [{ ...MANIFEST.files[0], sha256: "not hex" }] })).reason ?? "", /files\.0\.sha256/);
  });

  it("a manifest of another directory is incomplete, naming what disagrees", function () {
    for (const [field, value] of [["id", "20261201T030001Z-abc123"], ["cluster", "other"], ["kind", "physical"]] as const) {
      const result = classify(JSON.stringify({ ...MANIFEST, [field]: value }));
      assert.equal(result.manifest, null, field);
      assert.match(result.reason ?? "", new RegExp(`belongs to another backup: ${field} "${value}"`));
    }
  });

  it("missing files and names outside the directory are incomplete", function () {
    assert.match(classify(JSON.stringify(MANIFEST), { ...DIRECTORY, files: ["manifest.json"] }).reason ?? "", /missing: app\.pgcustom\.zst/);
    const escaping = { ...MANIFEST, files: [{ ...MANIFEST.files[0], name: "../../etc/passwd" }] };
    assert.match(classify(JSON.stringify(escaping)).reason ?? "", /outside its directory: "\.\.\/\.\.\/etc\/passwd"/);
    assert.match(classify(JSON.stringify({ ...MANIFEST, files: [] })).reason ?? "", /lists no files/);
  });

  it("a wrong (well-formed) sha256 is complete here: verify's checksum check catches it", function () {
    const wrong = { ...MANIFEST, files: [{ ...MANIFEST.files[0], sha256: "b".repeat(64) }] };
    assert.notEqual(classify(JSON.stringify(wrong)).manifest, null);
  });
});
