// Before a command starts jobs: remove what dead runs of pgfort left (src/lifecycle/reaper.ts).
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import type { BackupTarget } from "../backup/targets/target";
import { reapLeftovers } from "../lifecycle/reaper";
import type { Output } from "./output";

export async function reapFirst(output: Output, docker: DockerClient, loaded: LoadedConfig, target?: BackupTarget): Promise<void> {
  const removed = await reapLeftovers(docker, { cluster: loaded.config.cluster, stateDir: loaded.stateDir, ...(target ? { target } : {}) });
  for (const leftover of removed) output.info(`removed leftover ${leftover.kind} ${leftover.name} (${leftover.reason})`);
}
