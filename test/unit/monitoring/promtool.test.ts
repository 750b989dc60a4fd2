// The shipped alert rules under Prometheus's own test runner: `promtool check rules` on the
// output of `pgfort monitoring rules`, and `promtool test rules` with one test file per rule
// (series where it must fire, and where it must not). No promtool is a failure, never a skip:
// untested rules would ship green.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { parseConfig } from "../../../src/config/load";
import { JOB_LABEL } from "../../../src/monitoring/metric-names";
import { planAlertRules, renderRulesYaml, type AlertRule } from "../../../src/monitoring/rules";
import { CASES, CASES_CONFIG, type PromtoolCase } from "./promtool-cases";

const MISSING_PROMTOOL =
  "promtool is not installed, so the alert rules cannot be tested: run `bash scripts/check-promtool.sh` as root (installs Debian's prometheus package), or `sudo apt-get install --no-install-recommends prometheus`";

function promtool(...args: string[]): { ok: boolean; output: string } {
  const run = spawnSync("promtool", args, { encoding: "utf8" });
  if (run.error) throw new Error(MISSING_PROMTOOL, { cause: run.error });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/** `{{ $labels.name }}` in an annotation, as Prometheus expands it for an alert with `labels`. */
function expand(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_whole, name: string) => labels[name] ?? "");
}

/** A promtool test file for one case against the rules in `rulesPath`. */
function promtoolTestFile(rulesPath: string, testCase: PromtoolCase, rules: AlertRule[]): string {
  const annotationsFor = (labels: Record<string, string>): Record<string, string> => {
    const rule = rules.find((candidate) => candidate.alert === testCase.alert && (candidate.labels[JOB_LABEL] ?? "") === (labels[JOB_LABEL] ?? ""));
    assert.ok(rule, `no ${testCase.alert} rule for ${JSON.stringify(labels)}`);
    return { summary: expand(rule.annotations.summary, labels), description: expand(rule.annotations.description, labels) };
  };
  return stringify({
    rule_files: [rulesPath],
    evaluation_interval: testCase.evaluationInterval,
    tests: testCase.groups.map((group) => ({
      interval: group.interval,
      input_series: Object.entries(group.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: group.checks.map((check) => ({
        eval_time: check.at,
        alertname: testCase.alert,
        exp_alerts: check.firing.map((labels) => ({ exp_labels: labels, exp_annotations: annotationsFor(labels) })),
      })),
    })),
  });
}

describe("alert rules under promtool", function () {
  this.timeout(60_000);
  const file = planAlertRules(parseConfig(CASES_CONFIG));
  const rules = file.groups.flatMap((group) => group.rules);
  let directory = "";
  let rulesPath = "";

  before(function () {
    promtool("--version");
    directory = mkdtempSync(path.join(tmpdir(), "pgfort-rules-"));
    rulesPath = path.join(directory, "rules.yaml");
    writeFileSync(rulesPath, renderRulesYaml(file, "app"));
  });
  after(function () {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it("promtool check rules accepts the generated file", function () {
    const result = promtool("check", "rules", rulesPath);
    assert.ok(result.ok, result.output);
  });

  it("has a case for every rule it ships", function () {
    assert.deepEqual(new Set(rules.map((rule) => rule.alert)), new Set(CASES.map((testCase) => testCase.alert)));
  });

  for (const testCase of CASES) {
    it(`${testCase.alert} fires when it must and not otherwise`, function () {
      const testPath = path.join(directory, `${testCase.alert}.test.yaml`);
      writeFileSync(testPath, promtoolTestFile(rulesPath, testCase, rules));
      const result = promtool("test", "rules", testPath);
      assert.ok(result.ok, result.output);
    });
  }

  it("a threshold two hours off fails the missing-backup test (the tests can fail)", function () {
    const brokenPath = path.join(directory, "broken-rules.yaml");
    const text = renderRulesYaml(file, "app");
    assert.match(text, / > 172800\n/);
    writeFileSync(brokenPath, text.replace(" > 172800\n", " > 180000\n"));
    const testCase = CASES.find((candidate) => candidate.alert === "PgfortBackupMissing");
    assert.ok(testCase);
    const testPath = path.join(directory, "broken.test.yaml");
    writeFileSync(testPath, promtoolTestFile(brokenPath, testCase, rules));
    const result = promtool("test", "rules", testPath);
    assert.equal(result.ok, false, "promtool passed rules with a wrong threshold");
    assert.match(result.output, /PgfortBackupMissing/);
  });
});
