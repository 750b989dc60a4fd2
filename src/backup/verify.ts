// `pgfort backup verify`: the restore drill. sha256 of every file, a real restore in a throwaway
// server, row counts compared with the manifest, the verdict written beside it as verify.json.
import { randomBytes } from "node:crypto";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { VERSION } from "../version";
import type { Check } from "./checksums";
import { VERIFY_FILE } from "./layout";
import type { BackupManifest, VerifyResult } from "./manifest";
import { countRows, removeRestored, restoreBackup } from "./restore";
import type { BackupTarget } from "./targets/target";

export async function verifyBackup(
  docker: DockerClient,
  loaded: LoadedConfig,
  target: BackupTarget,
  directory: string,
  manifest: BackupManifest,
  onInfo?: (message: string) => void,
  options: { signal?: AbortSignal } = {},
): Promise<VerifyResult> {
  const { signal } = options;
  const node = `verify-${randomBytes(3).toString("hex")}`;
  let checks: Check[] = [];
  try {
    const restored = await restoreBackup(docker, loaded, target, directory, manifest, { node, role: "verify", ...(onInfo ? { onInfo } : {}), ...(signal ? { signal } : {}) });
    checks = restored.checks;
    const counts = await countRows(docker, restored.container, manifest.kind === "logical" ? manifest.databases : undefined);
    checks.push(...compareRowCounts(manifest, counts));
  } catch (error) {
    // An interrupted drill is no verdict: nothing is written.
    if (signal?.aborted) throw signal.reason;
    checks.push({ name: "restore", ok: false, detail: (error as Error).message });
  } finally {
    await removeRestored(docker, loaded, node);
  }
  signal?.throwIfAborted();
  const result: VerifyResult = {
    id: manifest.id,
    ok: checks.length > 0 && checks.every((check) => check.ok),
    verifiedAt: new Date().toISOString(),
    checks,
    tool: { name: "pgfort", version: VERSION },
  };
  await target.writeText(`${directory}${VERIFY_FILE}`, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/**
 * Logical: every table's rows must equal the counts taken in the dump's own snapshot. Physical:
 * there is no snapshot to count at (the copy is consistent only at its end LSN), so reading every
 * table through (data checksums on: every page is checked) is the test.
 */
export function compareRowCounts(manifest: BackupManifest, restored: Record<string, Record<string, number>>): Check[] {
  if (manifest.kind === "physical") {
    const tables = Object.values(restored).reduce((sum, tablesOf) => sum + Object.keys(tablesOf).length, 0);
    const rows = Object.values(restored).reduce((sum, tablesOf) => sum + Object.values(tablesOf).reduce((a, b) => a + b, 0), 0);
    return [{ name: "read every table", ok: true, detail: `${tables} tables, ${rows} rows read with page checksums verified` }];
  }
  const checks: Check[] = [];
  for (const [database, expected] of Object.entries(manifest.rowCounts ?? {})) {
    const actual = restored[database] ?? {};
    const wrong = Object.entries(expected)
      .filter(([table, rows]) => actual[table] !== rows)
      .map(([table, rows]) => `${table}: ${rows} in the backup, ${actual[table] ?? "missing"} restored`);
    const extra = Object.keys(actual).filter((table) => !(table in expected));
    const rows = Object.values(expected).reduce((a, b) => a + b, 0);
    checks.push({
      name: `row counts ${database}`,
      ok: wrong.length === 0 && extra.length === 0,
      detail: wrong.length || extra.length ? [...wrong, ...extra.map((table) => `${table}: not in the backup`)].join("; ") : `${Object.keys(expected).length} tables, ${rows} rows match`,
    });
  }
  return checks;
}
