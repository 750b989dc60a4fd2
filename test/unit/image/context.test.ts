import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { extract } from "tar-stream";
import { createBuildContext, listContextFiles } from "../../../src/image/context";

async function readTar(files: string[]): Promise<Map<string, { mode: number; sha256: string }>> {
  const entries = new Map<string, { mode: number; sha256: string }>();
  const archive = extract();
  archive.on("entry", (header, stream, next) => {
    const hash = createHash("sha256");
    stream.on("data", (chunk: unknown) => hash.update(chunk as Buffer));
    stream.on("end", () => {
      entries.set(header.name, { mode: header.mode ?? 0, sha256: hash.digest("hex") });
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => archive.on("finish", () => resolve()).on("error", reject));
  (await createBuildContext(files)).pipe(archive);
  await done;
  return entries;
}

describe("build context", function () {
  it("packs the Dockerfile, entrypoint and every conf.d aspect, executables executable", async function () {
    const files = await listContextFiles();
    for (const aspect of ["00-connections", "10-memory", "20-wal", "30-replication", "40-logging", "50-ssl", "60-locale", "90-overrides"]) {
      assert.ok(files.includes(`conf.d/${aspect}.conf`), `missing conf.d/${aspect}.conf`);
    }
    const entries = await readTar(files);
    assert.deepEqual([...entries.keys()], files);
    assert.equal(entries.get("images/postgres/docker-entrypoint.sh")?.mode, 0o755);
    assert.equal(entries.get("images/postgres/Dockerfile")?.mode, 0o644);
  });

  it("is reproducible: the same sources give the same bytes", async function () {
    const files = await listContextFiles();
    const hashOf = async () => {
      const hash = createHash("sha256");
      for await (const chunk of await createBuildContext(files)) hash.update(chunk as Buffer);
      return hash.digest("hex");
    };
    assert.equal(await hashOf(), await hashOf());
  });
});
