import type { Command } from "commander";
import { buildAgentImage } from "../image/agent-build";
import { buildImage } from "../image/build";
import { parseBuildFlags, planImageBuild } from "../image/plan";
import { VERSION } from "../version";
import { action } from "./context";
import { formatBytes } from "./output";

export function registerBuild(program: Command): void {
  program
    .command("build")
    .description("build the hardened PostgreSQL image (plpython3u, data checksums, split conf.d, non-root) and the agent image on it")
    .option("--tag <tag>", "image tag (default: image.tag of the config, pgfort/postgres:MAJOR)")
    .option("--pg-major <major>", "PostgreSQL major version: 17 or 15 (default: image.pgMajor, 17)")
    .option("--base <image>", "base image (default: image.base, else debian:trixie-slim for 17, debian:bookworm-slim for 15)")
    .option("--no-cache", "do not use the build cache")
    .action(
      action<Record<string, unknown>>(async ({ output, loadConfig, docker }, options) => {
        const { cache, ...rest } = options; // commander's --no-cache arrives as cache: false
        const flags = parseBuildFlags({ ...rest, noCache: cache === false });
        const { config } = await loadConfig();
        const plan = planImageBuild(config.image, flags, VERSION);
        output.info(`building ${plan.tag} (PostgreSQL ${plan.pgMajor} on ${plan.base})`, { tag: plan.tag });
        const engine = await docker();
        const onStep = (image: string) => (step: { step: number; total: number; instruction: string }) =>
          output.progress(`${image} [${step.step}/${step.total}] ${step.instruction.slice(0, 100)}`, { image, ...step });
        const image = await buildImage(engine, plan, { onStep: onStep(plan.tag) });
        // The agent image is the server image plus Node and pgfort: built from the one just built.
        const agentSource = { ...config.image, tag: image.tag, pgMajor: plan.pgMajor };
        const agent = await buildAgentImage(engine, agentSource, { onStep: onStep("agent") }, plan.noCache);
        output.result({ event: "built", ...image, agent }, [
          `built ${image.tag}`,
          `id    ${image.id}`,
          `size  ${formatBytes(image.sizeBytes)}`,
          `built ${agent.tag} (the agent: the server's tools, Node and pgfort)`,
          `id    ${agent.id}`,
          `size  ${formatBytes(agent.sizeBytes)}`,
        ]);
      }, { swarm: true }),
    );
}
