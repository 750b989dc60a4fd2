// `pgfort compose [--out DIR]`: see src/compose/export.ts.
import path from "node:path";
import type { Command } from "commander";
import { defaultComposeDir, exportCompose } from "../compose/export";
import { action } from "./context";

export function registerCompose(program: Command): void {
  program
    .command("compose")
    .description("write the cluster as a Compose project (compose.yaml, compose.dev.yaml, secrets, conf.d) that docker compose up -d runs as pgfort up would")
    .option("--out <dir>", "the project directory (default: .pgfort/<cluster>/compose)")
    .action(
      action<{ out?: string }>(async ({ output, loadConfig, docker }, options) => {
        const loaded = await loadConfig();
        const directory = path.resolve(options.out ?? defaultComposeDir(loaded));
        const result = await exportCompose(await docker(), loaded, directory, {
          onInfo: (message) => output.info(message),
          onStep: (step) => output.progress(`building image [${step.step}/${step.total}] ${step.instruction.slice(0, 80)}`),
        });
        for (const warning of result.warnings) output.warn(warning);
        output.result(result, [
          `wrote the Compose project of ${loaded.config.cluster} to ${result.directory}: services ${result.services.join(", ")}`,
          `  start it:       ${result.upCommand}`,
          `  production:     docker compose -f compose.yaml up -d   (no published port: join the network ${loaded.config.cluster}-net)`,
          "pgfort status, backup, verify and restore find its containers by their names and labels, as for pgfort up;",
          "run pgfort compose again after changing pgfort.yaml, and let one of pgfort up and docker compose manage the cluster, not both",
        ]);
      }),
    );
}
