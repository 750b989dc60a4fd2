// `pgfort adopt --compose FILE --service NAME [--write]`: see src/adopt/adopt.ts.
import type { Command } from "commander";
import { adopt } from "../adopt/adopt";
import { ADOPTED_PROFILE } from "../adopt/compose-file";
import { action } from "./context";

export function registerAdopt(program: Command): void {
  program
    .command("adopt")
    .description("move an official-image PostgreSQL service of a Compose project into this cluster: a verified logical backup, restored and compared, and the compose file's lines to change")
    .requiredOption("--compose <file>", "the compose file that defines the service")
    .requiredOption("--service <name>", "the PostgreSQL service (image: postgres:…)")
    .option("--write", "change the compose file (a copy of it is kept beside it)")
    .action(
      action<{ compose: string; service: string; write?: boolean }>(async ({ output, loadConfig, docker }, options) => {
        const loaded = await loadConfig();
        const result = await adopt(await docker(), loaded, {
          composeFile: options.compose,
          service: options.service,
          write: Boolean(options.write),
          listener: { onInfo: (message) => output.info(message), onStep: (step) => output.progress(`building image [${step.step}/${step.total}] ${step.instruction.slice(0, 80)}`) },
        });
        for (const warning of result.warnings) output.warn(warning);
        const rows = result.databases.reduce((sum, database) => sum + database.rows, 0);
        output.result(result, [
          result.adopted === "now"
            ? `adopted ${result.service} (${result.source.container}, ${result.source.image}) into ${result.cluster}: ${result.databases.length} database(s), ${rows} rows and ${result.roles.length} roles, every table's row count equal to the backup's`
            : `${result.service} was adopted into ${result.cluster} before; its data is not moved again`,
          ...result.databases.map((database) => `  ${database.name}: ${database.tables} tables, ${database.rows} rows`),
          `the logical backup it was restored from: ${result.backupDirectory}`,
          `applications now connect to ${result.primary} on the network ${result.cluster}-net (TLS required: libpq's default sslmode=prefer uses it; pass sslmode=verify-full with the cluster's CA to check it)`,
          "",
          ...(result.diff.length ? [`${options.compose}: ${result.written ? "changed" : "the lines to change (run again with --write to change them)"}:`, ...result.diff] : [`${options.compose} needs no change`]),
          ...(result.written ? [`the file as it was: ${result.written.copy}`] : []),
          "",
          `${result.service} itself is untouched and keeps its volume; once ${result.cluster} serves your applications: docker compose stop ${result.service} (it starts again with --profile ${ADOPTED_PROFILE})`,
        ]);
      }),
    );
}
