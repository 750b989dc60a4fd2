import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../../../src/config/load";
import { ConfigError } from "../../../src/errors";
import { JOB_LABEL } from "../../../src/monitoring/metric-names";
import { planAlertRules, renderRulesYaml, type AlertRule } from "../../../src/monitoring/rules";

const CONFIG = `
cluster: app
backups:
  jobs:
    - { name: nightly, kind: logical, schedule: "0 3 * * *" }
    - { name: weekdays, kind: physical, schedule: "0 4 * * 1-5" }
monitoring: { drillMaxAgeDays: 3, replicaLagSeconds: 60, slotRetainedBytes: 1g, xidAgeWarning: 1200000000 }
`;

function rulesOf(yaml: string): AlertRule[] {
  return planAlertRules(parseConfig(yaml)).groups.flatMap((group) => group.rules);
}
function find(rules: AlertRule[], alert: string, job?: string): AlertRule {
  const rule = rules.find((candidate) => candidate.alert === alert && (job === undefined || candidate.labels[JOB_LABEL] === job));
  assert.ok(rule, `no ${alert} rule${job ? ` for ${job}` : ""}`);
  return rule;
}

describe("planAlertRules", function () {
  it("gives every backup job a missing and a failed rule, windows from its schedule", function () {
    const rules = rulesOf(CONFIG);
    assert.equal(rules.filter((rule) => rule.alert === "PgfortBackupMissing").length, 2);
    // Daily: two periods are 2 days; weekdays: the weekend gap is 3 days, so 6.
    assert.match(find(rules, "PgfortBackupMissing", "nightly").expr, /\{backup_job="nightly"\}\) > 172800\n.*\[2d\]/);
    assert.match(find(rules, "PgfortBackupMissing", "weekdays").expr, /\{backup_job="weekdays"\}\) > 518400\n.*\[6d\]/);
    assert.match(find(rules, "PgfortBackupFailed", "weekdays").expr, /pgfort_backup_failures_total\{backup_job="weekdays"\}\[3d\]/);
    assert.deepEqual(find(rules, "PgfortBackupFailed", "nightly").labels, { severity: "critical", cluster: "app", backup_job: "nightly" });
  });

  it("allows one more hour for a schedule in a zone with daylight saving time", function () {
    const rules = rulesOf(`backups: { timezone: Europe/Berlin, jobs: [{ name: nightly, kind: logical, schedule: "0 3 * * *" }] }`);
    assert.match(find(rules, "PgfortBackupMissing").expr, / > 180000\n/);
  });

  it("takes the thresholds from monitoring:", function () {
    const rules = rulesOf(CONFIG);
    assert.match(find(rules, "PgfortRestoreDrillStale").expr, /> 259200\n.*\[3d\]/);
    assert.match(find(rules, "PostgresReplicaLagHigh").expr, /pg_replication_lag_seconds\) > 60$/);
    assert.match(find(rules, "PostgresSlotRetainingWal").expr, /pgfort_replication_slot_retained_wal_bytes\) > 1073741824$/);
    assert.match(find(rules, "PostgresXidWraparoundNear").expr, /pgfort_database_xid_age\) > 1200000000$/);
  });

  it("has no backup or drill rules without backup jobs, and the database rules always", function () {
    const rules = rulesOf("");
    assert.deepEqual(rules.map((rule) => rule.alert), ["PostgresReplicaLagHigh", "PostgresSlotRetainingWal", "PostgresXidWraparoundNear", "PgfortWalArchiveFailing", "PgfortWalArchiveBacklog", "PgfortWalArchiveGap"]);
    assert.ok(!rulesOf("wal: { archive: false }").some((rule) => rule.alert.startsWith("PgfortWalArchive")), "no WAL rules without archiving");
  });

  it("fails with a ConfigError for a schedule too rare to alert on", function () {
    assert.throws(() => rulesOf(`backups: { jobs: [{ name: leap, kind: logical, schedule: "0 0 29 2 1" }] }`), ConfigError);
  });

  it("renders YAML that reads back as the same rules, behind a comment header", function () {
    const file = planAlertRules(parseConfig(CONFIG));
    const yaml = renderRulesYaml(file, "app");
    assert.match(yaml, /^# .*cluster app/);
    assert.match(yaml, /no honor_labels needed/);
    assert.deepEqual(parse(yaml), file);
  });
});
