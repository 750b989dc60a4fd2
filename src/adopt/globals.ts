// The old server's roles, as pg_dumpall --globals-only wrote them, for the pgfort cluster: the
// statements about pgfort's own roles (its superuser, whose password pgfort keeps in its state, and
// its replication role) are left out; every other role comes with its attributes, password
// verifier, settings and memberships. Pure.

/** `CREATE ROLE x;`, `ALTER ROLE x WITH …;`, `ALTER ROLE x SET …;`, `COMMENT ON ROLE x IS …;` for a role pgfort owns. */
export function filterGlobals(sql: string, pgfortRoles: readonly string[]): string {
  const names = pgfortRoles.flatMap((role) => [role, `"${role}"`]).map((name) => name.replace(/[.*+?^${}()|[\]\\"]/g, "\\$&"));
  const own = new RegExp(`^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE) (?:${names.join("|")})(?:;| )`);
  return sql
    .split("\n")
    .filter((line) => !own.test(line))
    .join("\n");
}
