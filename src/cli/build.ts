import type { Command } from "commander";
import { buildImage } from "../image/build";
import { parseBuildFlags, planImageBuild } from "../image/plan";
import { VERSION } from "../version";
import { action } from "./context";
import { formatBytes } from "./output";

export function registerBuild(program: Command): void {
  program
    .command("build")
    .description("build the hardened PostgreSQL image (plpython3u, data checksums, split conf.d, non-root)")
    .option("--tag <tag>", "image tag (default: image.tag of the config, pgfort/postgres:15)")
    .option("--pg-major <major>", "PostgreSQL major version (default: image.pgMajor, 15)")
    .option("--base <image>", "base image (default: image.base, debian:bookworm-slim)")
    .option("--no-cache", "do not use the build cache")
    .action(
      action<Record<string, unknown>>(async ({ output, loadConfig, docker }, options) => {
        const { cache, ...rest } = options; // commander's --no-cache arrives as cache: false
        const flags = parseBuildFlags({ ...rest, noCache: cache === false });
        const { config } = await loadConfig();
        const plan = planImageBuild(config.image, flags, VERSION);
        output.info(`building ${plan.tag} (PostgreSQL ${plan.pgMajor} on ${plan.base})`, { tag: plan.tag });
        const image = await buildImage(await docker(), plan, {
          onStep: (step) =>
            output.progress(`[${step.step}/${step.total}] ${step.instruction.slice(0, 100)}`, { ...step }),
        });
        output.result({ event: "built", ...image }, [
          `built ${image.tag}`,
          `id    ${image.id}`,
          `size  ${formatBytes(image.sizeBytes)}`,
        ]);
      }),
    );
}
