// `up` for the pooler: its files rendered into .pgfort/<cluster>/pooler/ and the container made,
// kept (a changed file is applied by SIGHUP, PgBouncer's reload: clients stay connected) or
// re-created when its spec changed. And `follow`: after a promotion, the pooler's server is the
// promoted node.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import { LABEL_SPEC_HASH } from "../docker/labels";
import { writeConfD } from "../cluster/state";
import { explainLimitWarnings } from "../cluster/limits";
import { poolerCommand } from "./console";
import { planPooler, poolerConfigDirOf, renderPoolerFiles, type PoolerPlan } from "./plan";

export interface PoolerUpResult {
  container: string;
  outcome: "created" | "recreated" | "unchanged" | "reloaded" | "started";
  port: number;
  warnings: string[];
}

async function filesDiffer(plan: PoolerPlan): Promise<boolean> {
  for (const [name, content] of plan.files) {
    const current = await readFile(path.join(plan.configDir, name), "utf8").catch(() => undefined);
    if (current !== content) return true;
  }
  return false;
}

/** Brings the pooler to its plan for the primary `primaryNode`; undefined when the config has no pooler. */
export async function upPooler(docker: DockerClient, loaded: LoadedConfig, primaryNode: string, imageId: string | undefined): Promise<PoolerUpResult | undefined> {
  const { config, stateDir } = loaded;
  const pooler = config.pooler;
  if (!pooler) return undefined;
  const plan = planPooler(config, pooler, stateDir, primaryNode, imageId);
  const changed = await filesDiffer(plan);
  // Written by rename, each file readable by the container's user (the files hold no secret).
  await writeConfD(plan.configDir, plan.files);
  const existing = await docker.inspectContainerIfExists(plan.name);
  const result = { container: plan.name, port: pooler.port, warnings: [] as string[] };
  if (existing && existing.Config.Labels?.[LABEL_SPEC_HASH] === plan.specHash) {
    if (!existing.State.Running) {
      await docker.startContainer(plan.name);
      await docker.waitUntilHealthy(plan.name, 60_000);
      return { ...result, outcome: "started" };
    }
    // SIGHUP, PgBouncer's reload, needs no login (a file written by an earlier `up` that could not
    // apply it is applied now too); an unchanged file reloads to the same state.
    await docker.signalContainer(plan.name, "SIGHUP");
    return { ...result, outcome: changed ? "reloaded" : "unchanged" };
  }
  if (existing) await docker.removeContainer(plan.name);
  const warnings = await docker.createAndStart(plan.create);
  try {
    await docker.waitUntilHealthy(plan.name, 60_000);
  } catch (error) {
    await docker.removeContainer(plan.name).catch(() => undefined);
    throw error;
  }
  return { ...result, outcome: existing ? "recreated" : "created", warnings: explainLimitWarnings(warnings, "pooler.resources") };
}

/**
 * Points a running pooler at `primaryNode` (RELOAD). Between PAUSE and RESUME around a promotion,
 * clients wait instead of failing.
 */
export async function followPrimary(docker: DockerClient, loaded: LoadedConfig, primaryNode: string): Promise<void> {
  const { config, stateDir } = loaded;
  if (!config.pooler) return;
  await writeConfD(poolerConfigDirOf(stateDir), renderPoolerFiles(config, config.pooler, primaryNode));
  await poolerCommand(docker, config.cluster, "RELOAD");
}
