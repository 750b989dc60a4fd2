// `pgfort monitoring rules`: Prometheus alerting rules generated from the config. Pure: config in,
// rule groups out; the backup rules take their windows from each job's cron schedule.
import { stringify } from "yaml";
import type { BackupJob, Config } from "../config/schema";
import { ConfigError } from "../errors";
import { longestCronGapSeconds } from "./cron-period";
import { formatPrometheusDuration } from "./duration";
import { BACKUP_METRICS, DATABASE_LABEL, DATABASE_METRICS, JOB_LABEL, LAST_VERIFIED_TIMESTAMP, REPLICA_LABEL, SLOT_LABEL, WAL_METRICS } from "./metric-names";

/** One rule as Prometheus's rule file format has it (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/). */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}
export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}
export interface RuleFile {
  groups: RuleGroup[];
}

// A schedule in a zone with daylight saving time has one gap a year an hour longer than its wall clock says.
const DAYLIGHT_SAVING_SECONDS = 3_600;
// Database conditions must hold this long: one slow scrape or a checkpoint burst is no page.
const DATABASE_FOR = "5m";

/** The alerting rules for `config`'s cluster; throws ConfigError for a schedule too rare to alert on. */
export function planAlertRules(config: Config): RuleFile {
  const labels = (severity: "critical" | "warning"): Record<string, string> => ({ severity, cluster: config.cluster });
  // The job label again on the rule: without it, promtool's lint sees one rule twice per job.
  const backupRules = config.backups.jobs.flatMap((job) =>
    planJobRules(job, config.backups.timezone, { ...labels("critical"), [JOB_LABEL]: job.name }, config.cluster),
  );
  const drillRules = config.backups.jobs.length > 0 ? [planDrillRule(config.monitoring.drillMaxAgeDays, labels("warning"))] : [];
  const groups = [
    { name: `pgfort-${config.cluster}-backups`, rules: [...backupRules, ...drillRules] },
    { name: `pgfort-${config.cluster}-database`, rules: planDatabaseRules(config, labels) },
    { name: `pgfort-${config.cluster}-wal`, rules: config.wal.archive ? planWalRules(labels) : [] },
  ];
  // A group without rules is legal but says nothing (a cluster without backup jobs).
  return { groups: groups.filter((group) => group.rules.length > 0) };
}

function planJobRules(job: BackupJob, timezone: string, labels: Record<string, string>, cluster: string): AlertRule[] {
  const periodSeconds = jobPeriodSeconds(job) + (timezone === "UTC" ? 0 : DAYLIGHT_SAVING_SECONDS);
  const allowed = formatPrometheusDuration(2 * periodSeconds);
  const period = formatPrometheusDuration(periodSeconds);
  const selector = `{${JOB_LABEL}="${job.name}"}`;
  const successes = `${BACKUP_METRICS.runs}{${JOB_LABEL}="${job.name}",outcome="success"}`;
  return [
    {
      alert: "PgfortBackupMissing",
      // The second branch covers what the first cannot see: a job that never succeeded, and an
      // agent that is gone (its series go stale, so `time() - last success` has no value at all).
      // So a new cluster alerts until its first backup: on purpose, it has none yet.
      expr: [
        `time() - max by (${JOB_LABEL}) (${BACKUP_METRICS.lastSuccessTimestamp}${selector}) > ${2 * periodSeconds}`,
        `or max by (${JOB_LABEL}) (absent_over_time(${BACKUP_METRICS.lastSuccessTimestamp}${selector}[${allowed}]))`,
      ].join("\n"),
      labels,
      annotations: {
        summary: `No successful backup of job {{ $labels.${JOB_LABEL} }} for ${allowed}`,
        description: `Backup job ${job.name} (schedule "${job.schedule}", longest gap ${period}) has not succeeded for two periods, or the agent serving its metrics is gone. Check \`pgfort status\` and the agent's log (docker logs ${cluster}-agent).`,
      },
    },
    {
      alert: "PgfortBackupFailed",
      // The metrics have no time of the last failure: "a run failed within one period and none
      // succeeded in it" stands for "the last run failed". It misses a failure that follows a
      // success within one period (a manual run, then a failed scheduled one); the missing-backup
      // rule still fires two periods on. A last-failure timestamp from the agent would make it exact.
      expr: [
        `increase(${BACKUP_METRICS.failures}${selector}[${period}]) > 0`,
        `unless on (${JOB_LABEL}) increase(${successes}[${period}]) > 0`,
      ].join("\n"),
      labels,
      annotations: {
        summary: `The last run of backup job {{ $labels.${JOB_LABEL} }} failed`,
        description: `A run of backup job ${job.name} failed (the backup, or the restore drill after it) and none has succeeded since. See the agent's log for the cause, then \`pgfort backup run --job ${job.name}\`.`,
      },
    },
  ];
}

/** The job's longest gap; a schedule it cannot alert on fails naming the job. */
function jobPeriodSeconds(job: BackupJob): number {
  try {
    return longestCronGapSeconds(job.schedule);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`backup job ${job.name}: ${error.message}`, error.hint, { cause: error });
  }
}

function planDrillRule(maxAgeDays: number, labels: Record<string, string>): AlertRule {
  const maxAgeSeconds = Math.round(maxAgeDays * 86_400);
  const maxAge = formatPrometheusDuration(maxAgeSeconds);
  return {
    alert: "PgfortRestoreDrillStale",
    expr: [
      `time() - max(${LAST_VERIFIED_TIMESTAMP}) > ${maxAgeSeconds}`,
      `or absent_over_time(${LAST_VERIFIED_TIMESTAMP}[${maxAge}])`,
    ].join("\n"),
    labels,
    annotations: {
      summary: `No restore drill passed for ${maxAge}`,
      description: `No backup of this cluster passed a restore drill in ${maxAge} (monitoring.drillMaxAgeDays): a backup never restored is not known to restore. Run \`pgfort backup verify\` or set verify: true on a job.`,
    },
  };
}

/** WAL archiving (issue 11): failing, a backlog past half the bound, a gap. */
function planWalRules(labels: (severity: "critical" | "warning") => Record<string, string>): AlertRule[] {
  return [
    {
      alert: "PgfortWalArchiveFailing",
      expr: `max(${WAL_METRICS.failing}) == 1`,
      for: DATABASE_FOR,
      labels: labels("critical"),
      annotations: {
        summary: "WAL archiving fails",
        description: "The agent cannot store WAL in the backup target: the primary keeps the WAL in pg_wal (up to wal.maxPending) and point-in-time recovery loses what is not stored. The agent's log and /healthz say why.",
      },
    },
    {
      alert: "PgfortWalArchiveBacklog",
      expr: `max(${WAL_METRICS.pendingBytes}) > 0.5 * max(${WAL_METRICS.maxPendingBytes})`,
      for: DATABASE_FOR,
      labels: labels("warning"),
      annotations: {
        summary: "WAL waiting for the archive passed half of wal.maxPending",
        description: "More than half of wal.maxPending waits in pg_wal for the archive; at the bound the oldest WAL leaves unarchived and the recoverable window gets a gap.",
      },
    },
    {
      alert: "PgfortWalArchiveGap",
      expr: `increase(${WAL_METRICS.gaps}[1h]) > 0`,
      labels: labels("critical"),
      annotations: {
        summary: "WAL left pg_wal unarchived (wal.maxPending reached)",
        description: "A gap in the recoverable window: points after it cannot be restored until the next physical backup. Take one now (pgfort backup run --kind physical).",
      },
    },
  ];
}

function planDatabaseRules(config: Config, labels: (severity: "critical" | "warning") => Record<string, string>): AlertRule[] {
  const { replicaLagSeconds, slotRetainedBytes, xidAgeWarning } = config.monitoring;
  return [
    {
      alert: "PostgresReplicaLagHigh",
      expr: `max by (${REPLICA_LABEL}) (${DATABASE_METRICS.replicationLagSeconds}) > ${replicaLagSeconds}`,
      for: DATABASE_FOR,
      labels: labels("warning"),
      annotations: {
        summary: `Replica {{ $labels.${REPLICA_LABEL} }} lags more than ${replicaLagSeconds} s behind the primary`,
        description: `The replica replays WAL more than ${replicaLagSeconds} s (monitoring.replicaLagSeconds) behind the primary: reads there are stale and a failover to it loses that much. Check its resources and network in \`pgfort status\`.`,
      },
    },
    {
      alert: "PostgresSlotRetainingWal",
      expr: `max by (${SLOT_LABEL}) (${DATABASE_METRICS.slotRetainedWalBytes}) > ${slotRetainedBytes}`,
      for: DATABASE_FOR,
      labels: labels("critical"),
      annotations: {
        summary: `Replication slot {{ $labels.${SLOT_LABEL} }} holds back more than ${slotRetainedBytes} bytes of WAL`,
        description: `The primary keeps WAL for the slot's consumer beyond monitoring.slotRetainedBytes (${slotRetainedBytes} bytes); a consumer that never returns fills the disk. Bring the replica back, or drop it with \`pgfort replica remove\`.`,
      },
    },
    {
      alert: "PostgresXidWraparoundNear",
      expr: `max by (${DATABASE_LABEL}) (${DATABASE_METRICS.databaseXidAge}) > ${xidAgeWarning}`,
      for: DATABASE_FOR,
      labels: labels("critical"),
      annotations: {
        summary: `Database {{ $labels.${DATABASE_LABEL} }} is past ${xidAgeWarning} transaction IDs of age`,
        description: `age(datfrozenxid) is above monitoring.xidAgeWarning (${xidAgeWarning}); at about 2.1 billion PostgreSQL stops accepting writes. Find what blocks autovacuum's freezing (long transactions, prepared transactions, stale slots) and VACUUM FREEZE.`,
      },
    },
  ];
}

/** The rule file as YAML, with a header that says where it came from and how to scrape for it. */
export function renderRulesYaml(rules: RuleFile, cluster: string): string {
  const header = [
    `# Prometheus alerting rules for pgfort cluster ${cluster}, generated by \`pgfort monitoring rules\`.`,
    "# The backup metrics name the backup job in `backup_job` (backups.jobs[].name), apart from",
    "# Prometheus's own `job` label of the scrape: no honor_labels needed.",
  ];
  return `${header.join("\n")}\n${stringify(rules, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
