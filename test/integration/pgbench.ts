// pgbench's invariant, asked of a server: every transaction moves the same delta into accounts,
// tellers, branches and history, so the four sums are equal on any consistent snapshot. Shared by
// the integration tests and the benchmark (which restores a backup chain and checks it there).
export const PGBENCH_SUMS_QUERY =
  "SELECT (SELECT coalesce(sum(abalance),0) FROM pgbench_accounts) || ',' || (SELECT coalesce(sum(tbalance),0) FROM pgbench_tellers) || ',' || (SELECT coalesce(sum(bbalance),0) FROM pgbench_branches) || ',' || (SELECT coalesce(sum(delta),0) FROM pgbench_history)";

/** Whether the comma-separated sums PGBENCH_SUMS_QUERY answered are all equal. */
export function pgbenchSumsAgree(sums: string): boolean {
  const [accounts, ...others] = sums.split(",");
  return others.length === 3 && others.every((sum) => sum === accounts);
}
