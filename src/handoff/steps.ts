// `pgfort schedule` on the host: each step of a run handed over like the CLI does, so a scheduled
// run and `pgfort backup run` run the same job code (in the agent, or a one-off container).
import type { LoadedConfig } from "../config/load";
import type { DockerClient } from "../docker/client";
import type { JobSteps } from "../schedule/backup-job";
import { handOffBackup, handOffPrune, handOffVerify } from "./backup";

export function hostSteps(docker: DockerClient, loaded: LoadedConfig): JobSteps {
  return {
    backup: (job, signal) => handOffBackup(docker, loaded, { kind: job.kind, databases: job.databases, job: job.name, incremental: job.incremental ? { fullEvery: job.fullEvery } : undefined, signal }),
    verify: async (_job, manifest, signal) => (await handOffVerify(docker, loaded, { id: manifest.id, signal })).verdict,
    prune: async (signal) => {
      await handOffPrune(docker, loaded, { dryRun: false, signal });
    },
  };
}
