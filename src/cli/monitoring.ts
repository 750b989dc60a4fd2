// `pgfort monitoring rules`: the cluster's Prometheus alerting rules on stdout (YAML, or JSON with
// --json), for a rule_files entry. Needs the config only, no Docker.
import type { Command } from "commander";
import { planAlertRules, renderRulesYaml } from "../monitoring/rules";
import { action } from "./context";

export function registerMonitoring(program: Command): void {
  const monitoring = program.command("monitoring").description("monitoring of the cluster by Prometheus");
  monitoring
    .command("rules")
    .description("print Prometheus alerting rules for this cluster (YAML; --json for JSON)")
    .action(
      action(async ({ output, loadConfig }) => {
        const { config } = await loadConfig();
        const rules = planAlertRules(config);
        output.result(rules, renderRulesYaml(rules, config.cluster).trimEnd());
      }),
    );
}
