// Row counts of a restored logical backup against the counts its manifest took in the dump's own
// snapshot. Pure.
import type { Check } from "./checksums";
import type { BackupManifest } from "./manifest";

/** Logical: every table's rows must equal the counts taken in the dump's own snapshot. */
export function compareRowCounts(manifest: BackupManifest, restored: Record<string, Record<string, number>>): Check[] {
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
