// The agent's database metrics: prom-client collectors that ask every server of the cluster at
// scrape time (https://github.com/siimon/prom-client#custom-metrics, `collect`). One scrape of the
// registry makes one round of queries, shared by every metric, bounded by timeoutMs; a server that
// does not answer in time gives pg_up 0 and none of its other series.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { Counter, Gauge, Registry } from "prom-client";
import { SUPERUSER } from "../cluster/plan";
import { DATABASE_METRIC_DEFINITIONS, LAST_VERIFIED_DEFINITION, type MetricDefinition } from "./definitions";
import { LastVerifiedReader, type VerifiedSource } from "./last-verified";
import { serverSamples, type Sample } from "./samples";
import { readServer, type Credentials, type ServerAddress } from "./server-reading";

export type { ServerAddress } from "./server-reading";
export type { VerifiedSource } from "./last-verified";
export { clusterNetworkServers } from "./servers";

export const DEFAULT_SCRAPE_TIMEOUT_MS = 5_000;

export interface DatabaseMetricsOptions {
  /** Every server of the cluster, primary and replicas; the collector asks each whether it is in recovery. */
  servers: readonly ServerAddress[];
  /** The superuser's password file (/run/secrets/postgres-password in the agent), read at every scrape. */
  passwordFile: string;
  /** The CA that verifies the servers' certificates (default: the cluster's, in the secrets volume). */
  caFile?: string | undefined;
  user?: string;
  database?: string;
  /** The most one scrape may take, per server and for the backup target. */
  timeoutMs?: number;
  /** Where pgfort_backup_last_verified_timestamp_seconds comes from; without it, that metric is not served. */
  backups?: VerifiedSource;
  /** Told why a server or the target did not answer (the metric only says that it did not). */
  onError?: (scope: string, error: unknown) => void;
}

export interface DatabaseMetrics {
  /** Merge it with others: Registry.merge([scheduleMetrics.registry, databaseMetrics.registry]). */
  registry: Registry;
  /** Waits for a scrape under way; later scrapes serve nothing. */
  close(): Promise<void>;
}

export function createDatabaseMetrics(options: DatabaseMetricsOptions): DatabaseMetrics {
  const registry = new Registry();
  const scraper = new Scraper(options);
  for (const definition of DATABASE_METRIC_DEFINITIONS) register(registry, definition, () => scraper.samples());
  if (options.backups) register(registry, LAST_VERIFIED_DEFINITION, () => scraper.samples());
  return { registry, close: () => scraper.close() };
}

function register(registry: Registry, definition: MetricDefinition, samples: () => Promise<Sample[]>): void {
  const common = { name: definition.name, help: definition.help, labelNames: definition.labelNames, registers: [registry] };
  const mine = async (): Promise<Sample[]> => (await samples()).filter((sample) => sample.name === definition.name);
  if (definition.type === "counter") {
    // A counter read from the server: reset, then inc by the server's total (prom-client counters have no set()).
    new Counter({
      ...common,
      async collect() {
        const values = await mine();
        this.reset();
        for (const sample of values) this.inc(sample.labels, sample.value);
      },
    });
  } else {
    new Gauge({
      ...common,
      async collect() {
        const values = await mine();
        this.reset();
        for (const sample of values) this.set(sample.labels, sample.value);
      },
    });
  }
}

class Scraper {
  private inflight: Promise<Sample[]> | undefined;
  private closed = false;
  private readonly verified: LastVerifiedReader | undefined;

  constructor(private readonly options: DatabaseMetricsOptions) {
    this.verified = options.backups ? new LastVerifiedReader(options.backups, (error) => this.report("backup target", error)) : undefined;
  }

  /** This scrape's samples: prom-client calls every metric's collect() at once, and they share one round. */
  samples(): Promise<Sample[]> {
    if (this.closed) return Promise.resolve([]);
    this.inflight ??= this.scrape().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inflight?.catch(() => undefined);
  }

  private async scrape(): Promise<Sample[]> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_SCRAPE_TIMEOUT_MS;
    const [servers, verified] = await Promise.all([this.scrapeServers(timeoutMs), this.scrapeVerified(timeoutMs)]);
    return verified === null ? servers : [...servers, { name: LAST_VERIFIED_DEFINITION.name, labels: {}, value: verified }];
  }

  private async scrapeServers(timeoutMs: number): Promise<Sample[]> {
    let credentials: Credentials | undefined;
    try {
      const password = (await readFile(this.options.passwordFile, "utf8")).replace(/\r?\n$/, "");
      credentials = { user: this.options.user ?? SUPERUSER, password, database: this.options.database ?? "postgres" };
    } catch (error) {
      this.report(`password file ${this.options.passwordFile}`, error);
    }
    const scrapes = this.options.servers.map(async (address) => {
      const started = performance.now();
      let reading = null;
      if (credentials) {
        reading = await readServer(address, credentials, timeoutMs, this.options.caFile).catch((error: unknown) => {
          this.report(`server ${address.node}`, error);
          return null;
        });
      }
      return serverSamples({ node: address.node, reading, durationSeconds: (performance.now() - started) / 1000 });
    });
    return (await Promise.all(scrapes)).flat();
  }

  /** The cached reading, or nothing for this scrape when the target is slower than the timeout (the reading goes on for the next). */
  private async scrapeVerified(timeoutMs: number): Promise<number | null> {
    if (!this.verified) return null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([this.verified.read(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private report(scope: string, error: unknown): void {
    this.options.onError?.(scope, error);
  }
}
