// The pooler's metrics in the agent's /metrics (issue 13): PgBouncer's SHOW POOLS at scrape time,
// read over the pooler's socket in the socket volume (peer authentication as the agent's user,
// which is the pooler's: no password). pgbouncer_up says whether it answered.
import { Client } from "pg";
import { Gauge, Registry } from "prom-client";
import { z } from "zod";
import { SUPERUSER } from "../cluster/plan";

export interface PoolerMetricsOptions {
  /** The pooler's socket directory (src/pooler/plan.ts: poolerSocketDir). */
  socketDir: string;
  port: number;
  timeoutMs: number;
  onError?: (error: unknown) => void;
}

const PoolRow = z.object({
  database: z.string(),
  user: z.string(),
  cl_active: z.coerce.number(),
  cl_waiting: z.coerce.number(),
  sv_active: z.coerce.number(),
  sv_idle: z.coerce.number(),
  maxwait: z.coerce.number(),
  maxwait_us: z.coerce.number().default(0),
});
export type PoolRow = z.infer<typeof PoolRow>;

/** The gauges, per pool (database and user): what each sample is, as Prometheus names it. */
export const POOL_GAUGES: ReadonlyArray<{ name: string; help: string; value: (row: PoolRow) => number }> = [
  { name: "pgbouncer_pools_client_active_connections", help: "Clients paired with a server connection or idle, per pool (SHOW POOLS cl_active)", value: (row) => row.cl_active },
  { name: "pgbouncer_pools_client_waiting_connections", help: "Clients waiting for a server connection, per pool (SHOW POOLS cl_waiting)", value: (row) => row.cl_waiting },
  { name: "pgbouncer_pools_server_active_connections", help: "Server connections paired with a client (SHOW POOLS sv_active)", value: (row) => row.sv_active },
  { name: "pgbouncer_pools_server_idle_connections", help: "Server connections idle and ready (SHOW POOLS sv_idle)", value: (row) => row.sv_idle },
  { name: "pgbouncer_pools_client_maxwait_seconds", help: "How long the oldest waiting client has waited (SHOW POOLS maxwait)", value: (row) => row.maxwait + row.maxwait_us / 1e6 },
];

/** SHOW POOLS, or undefined when the pooler does not answer within timeoutMs. */
async function readPools(options: PoolerMetricsOptions): Promise<PoolRow[]> {
  const client = new Client({ host: options.socketDir, port: options.port, user: SUPERUSER, database: "pgbouncer", ssl: false, connectionTimeoutMillis: options.timeoutMs });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const result = await client.query("SHOW POOLS");
    // The console's own pool (database pgbouncer) is not an application's.
    return z.array(PoolRow).parse(result.rows).filter((row) => row.database !== "pgbouncer");
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function createPoolerMetrics(options: PoolerMetricsOptions): { registry: Registry } {
  const registry = new Registry();
  let round: Promise<PoolRow[] | undefined> | undefined;
  // One SHOW POOLS per scrape, shared by every gauge (prom-client collects them at once).
  const rows = (): Promise<PoolRow[] | undefined> =>
    (round ??= readPools(options)
      .catch((error: unknown) => {
        options.onError?.(error);
        return undefined;
      })
      .finally(() => setImmediate(() => (round = undefined))));
  new Gauge({
    name: "pgbouncer_up",
    help: "1 when the pooler's admin console answered this scrape",
    registers: [registry],
    async collect() {
      this.set((await rows()) === undefined ? 0 : 1);
    },
  });
  for (const gauge of POOL_GAUGES) {
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: ["database", "user"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const row of (await rows()) ?? []) this.set({ database: row.database, user: row.user }, gauge.value(row));
      },
    });
  }
  return { registry };
}
