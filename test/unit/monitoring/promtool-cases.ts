// Input series and expected alerts for `promtool test rules`, one case per shipped rule: each
// says when its alert must fire and when it must not. Times count from 0 (the Unix epoch), as
// promtool's tests do, so a timestamp value of 0 means "at the start of the test".

export interface AlertCheck {
  /** Prometheus duration since the start of the test. */
  at: string;
  /** Labels of each alert that must be firing then, besides alertname; [] when none may fire. */
  firing: Array<Record<string, string>>;
}
export interface SeriesGroup {
  /** Step between two values of the series. */
  interval: string;
  series: Record<string, string>;
  checks: AlertCheck[];
}
export interface PromtoolCase {
  alert: string;
  /** How often promtool evaluates the rules: hourly for the backup rules (no `for:`), whose windows are days. */
  evaluationInterval: string;
  groups: SeriesGroup[];
}

/** The config the cases are written for: daily and weekly jobs, small thresholds. */
export const CASES_CONFIG = `
cluster: app
backups:
  jobs:
    - { name: nightly, kind: logical, schedule: "0 3 * * *" }
    - { name: weekly, kind: physical, schedule: "0 4 * * 0" }
monitoring: { drillMaxAgeDays: 2, replicaLagSeconds: 60, slotRetainedBytes: 1g, xidAgeWarning: 1000000000 }
`;

const critical = { severity: "critical", cluster: "app" };
const warning = { severity: "warning", cluster: "app" };
const nightly = { ...critical, backup_job: "nightly" };
const weekly = { ...critical, backup_job: "weekly" };
const SUCCESS = "pgfort_backup_last_success_timestamp_seconds";

/** A database rule's case: `name{label="bad"}` crosses the threshold at 11m and must stay there 5m. */
function databaseCase(alert: string, metric: string, label: string, healthy: string, unhealthy: string): PromtoolCase {
  return {
    alert,
    evaluationInterval: "1m",
    groups: [
      {
        interval: "1m",
        // Labelled as the agent's collector labels them (src/metrics/definitions.ts): the rules aggregate `node` away.
        series: { [`${metric}{node="primary",${label}="bad"}`]: `${healthy}x10 ${unhealthy}x30`, [`${metric}{node="primary",${label}="good"}`]: `${healthy}x40` },
        checks: [
          { at: "5m", firing: [] },
          { at: "13m", firing: [] }, // pending: not yet 5m over the threshold
          { at: "20m", firing: [{ ...warningOrCritical(alert), [label]: "bad" }] },
        ],
      },
    ],
  };
}
function warningOrCritical(alert: string): Record<string, string> {
  return alert === "PostgresReplicaLagHigh" ? warning : critical;
}

export const CASES: PromtoolCase[] = [
  {
    alert: "PgfortBackupMissing",
    evaluationInterval: "1h",
    groups: [
      {
        // Both succeeded at 0: nightly may wait 2 days, weekly 14.
        interval: "1h",
        series: { [`${SUCCESS}{backup_job="nightly"}`]: "0x400", [`${SUCCESS}{backup_job="weekly"}`]: "0x400" },
        checks: [
          { at: "47h", firing: [] },
          { at: "49h", firing: [nightly] },
          { at: "360h", firing: [nightly, weekly] },
        ],
      },
      {
        // weekly never succeeded; nightly's agent is gone after 100h: its series go stale.
        interval: "1h",
        series: { [`${SUCCESS}{backup_job="nightly"}`]: "100x100" },
        checks: [
          { at: "1h", firing: [weekly] },
          { at: "120h", firing: [weekly] },
          { at: "149h", firing: [nightly, weekly] },
        ],
      },
    ],
  },
  {
    alert: "PgfortBackupFailed",
    evaluationInterval: "1h",
    groups: [
      {
        // nightly fails at 11h and succeeds at 15h; weekly never fails.
        interval: "1h",
        series: {
          'pgfort_backup_failures_total{backup_job="nightly"}': "0x10 1x100",
          'pgfort_backup_runs_total{backup_job="nightly",outcome="success"}': "0x14 1x100",
          'pgfort_backup_failures_total{backup_job="weekly"}': "0x120",
          'pgfort_backup_runs_total{backup_job="weekly",outcome="success"}': "0x120",
        },
        checks: [
          { at: "5h", firing: [] },
          { at: "12h", firing: [nightly] },
          { at: "16h", firing: [] },
        ],
      },
    ],
  },
  {
    alert: "PgfortRestoreDrillStale",
    evaluationInterval: "1h",
    groups: [
      {
        interval: "1h",
        series: { pgfort_backup_last_verified_timestamp_seconds: "0x100" },
        checks: [
          { at: "47h", firing: [] },
          { at: "49h", firing: [warning] },
        ],
      },
      {
        // No drill ever passed.
        interval: "1h",
        series: { pg_up: "1x10" },
        checks: [{ at: "1h", firing: [warning] }],
      },
    ],
  },
  databaseCase("PostgresReplicaLagHigh", "pg_replication_lag_seconds", "application_name", "0", "600"),
  databaseCase("PostgresSlotRetainingWal", "pgfort_replication_slot_retained_wal_bytes", "slot_name", "1024", "2147483648"),
  databaseCase("PostgresXidWraparoundNear", "pgfort_database_xid_age", "datname", "1000", "1500000000"),
  {
    alert: "PgfortWalArchiveFailing",
    evaluationInterval: "1m",
    groups: [
      {
        // Fails from 10m to 30m; a one-minute blip at 40m is no page.
        interval: "1m",
        series: { pgfort_wal_archive_failing: "0x9 1x20 0x9 1 0x20" },
        checks: [
          { at: "12m", firing: [] },
          { at: "20m", firing: [critical] },
          { at: "35m", firing: [] },
          { at: "41m", firing: [] },
        ],
      },
    ],
  },
  {
    alert: "PgfortWalArchiveBacklog",
    evaluationInterval: "1m",
    groups: [
      {
        // Bound 64 MiB; 48 MiB waiting from 10m on (over half), 16 MiB on the other server.
        interval: "1m",
        series: {
          pgfort_wal_archive_max_pending_bytes: "67108864x40",
          'pgfort_wal_archive_pending_bytes{server="app-primary"}': "16777216x9 50331648x30",
          'pgfort_wal_archive_pending_bytes{server="app-r1"}': "16777216x40",
        },
        checks: [
          { at: "9m", firing: [] },
          { at: "20m", firing: [warning] },
        ],
      },
    ],
  },
  {
    alert: "PgfortWalArchiveGap",
    evaluationInterval: "1m",
    groups: [
      {
        // One file given up at 10m: the alert holds for the hour after.
        interval: "1m",
        series: { pgfort_wal_archive_gaps_total: "0x9 1x120" },
        checks: [
          { at: "5m", firing: [] },
          { at: "12m", firing: [critical] },
          { at: "100m", firing: [] },
        ],
      },
    ],
  },
];
