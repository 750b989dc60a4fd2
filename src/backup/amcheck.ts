// pg_amcheck over every database of a restored server: every heap page (TOAST included: pg_amcheck
// follows TOAST pointers and checks TOAST tables by default) and every btree index, with
// --heapallindexed so an index that lost or gained entries is caught, not only a broken page.
// count(*) proved much less: it may use an index-only scan and never reads TOAST.
import { BackupError } from "../errors";
import type { Check } from "./checksums";

/**
 * --install-missing: amcheck is contrib (in the image) but no database has it; the throwaway server
 * is ours to change. No --rootdescend/--parent-check: they re-descend every tuple or take ShareLocks,
 * many times the cost for structural faults that --heapallindexed plus the page checks mostly catch.
 */
export function amcheckCommand(jobs: number): string[] {
  return ["pg_amcheck", "-U", "postgres", "--all", "--install-missing", "--heapallindexed", "--jobs", String(Math.max(1, jobs)), "--no-password"];
}

/** pg_amcheck exits 2 when it found corruption (or a check query failed on a relation), 1 when it could not run. */
const CORRUPTION_FOUND = 2;

/** Relations pg_amcheck reports, e.g. `heap table "app.public.t", block 3, offset 2:` or `btree index "app.public.t_pkey":`. */
export function corruptRelations(output: string): string[] {
  const found = new Set<string>();
  for (const match of output.matchAll(/^(heap table|btree index|toast table) "([^"]+)"/gm)) found.add(`${match[1]} ${match[2]}`);
  return [...found];
}

/** Pure: pg_amcheck's exit code and output as a check; throws when pg_amcheck itself could not run. */
export function amcheckVerdict(exitCode: number, stdout: string, stderr: string): Check {
  if (exitCode === 0) return { name: "pg_amcheck", ok: true, detail: "every heap page (TOAST included) and btree index of every database checked, --heapallindexed" };
  const relations = corruptRelations(stdout);
  if (exitCode === CORRUPTION_FOUND || relations.length > 0) {
    const excerpt = stdout.split("\n").slice(0, 12).join("\n").trim();
    return { name: "pg_amcheck", ok: false, detail: `corruption in ${relations.join(", ") || "(unnamed relations)"}: ${excerpt}` };
  }
  throw new BackupError(`pg_amcheck could not run (exit ${exitCode}): ${stderr.trim() || stdout.trim() || "no output"}`, "the restored server may have stopped; run the drill again");
}
