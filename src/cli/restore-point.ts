// `pgfort restore-point NAME`: a named point in the WAL (pg_create_restore_point) that
// `restore --to-name NAME` stops at; the WAL file holding it is closed at once (pg_switch_wal) so
// the agent archives it now rather than at archive_timeout.
import type { Command } from "commander";
import { z } from "zod";
import { objectName } from "../docker/labels";
import { ConfigError } from "../errors";
import { queryRows, quoteLiteral } from "../cluster/sql";
import { readTopology } from "../cluster/topology";
import { action } from "./context";

const PointRow = z.object({ lsn: z.string(), wal: z.string(), created_at: z.string() });

export function registerRestorePoint(program: Command): void {
  program
    .command("restore-point <name>")
    .description("create a named restore point on the primary (restore --to-name NAME stops there) and archive it now")
    .action(
      action(async ({ output, loadConfig, docker }, _options, name = "") => {
        if (name.length === 0 || name.length > 63) throw new ConfigError(`restore point name ${JSON.stringify(name)} has ${name.length} characters`, "use 1 to 63 characters");
        const loaded = await loadConfig();
        if (!loaded.config.wal.archive) throw new ConfigError("wal.archive is off: a restore point would never reach the archive", "set wal.archive: true (the default) and run pgfort up");
        const primary = objectName(loaded.config.cluster, (await readTopology(loaded.stateDir)).primary);
        const sql = `SELECT pg_create_restore_point(${quoteLiteral(name)})::text AS lsn, pg_walfile_name(pg_switch_wal()) AS wal, now()::text AS created_at`;
        const [row] = await queryRows(await docker(), primary, sql, PointRow);
        if (!row) throw new ConfigError("the primary returned no row", "check it with pgfort status");
        output.result({ name, ...row, server: primary }, `restore point ${name} at ${row.lsn} (${row.created_at}) on ${primary}; WAL ${row.wal} closed for the archive`);
      }),
    );
}
