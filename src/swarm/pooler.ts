// The pooler on a swarm (issue 14): PgBouncer as `up` makes it on one host (src/pooler/plan.ts), as a
// service pinned to the primary's node, where it reaches the primary through its socket in the
// node's socket volume, as on one host. Its pgbouncer.ini and hba.conf are Swarm configs instead of
// a bind mount (named by digest: a change is a new object). Apps on the overlay network reach it as
// `<cluster>-pooler:6432` (alias `pooler`). Pure.
import type { Config } from "../config/schema";
import type { ContainerCreateOptions } from "../docker/client";
import { planPooler, POOLER_CONFIG_DIR } from "../pooler/plan";

export interface SwarmPoolerPlan {
  create: ContainerCreateOptions;
  swarmNode: string;
  /** Its files by absolute path. */
  files: Map<string, string>;
}

export function planSwarmPooler(config: Config, stateDir: string, primary: string, swarmNode: string): SwarmPoolerPlan | undefined {
  if (!config.pooler) return undefined;
  const plan = planPooler(config, config.pooler, stateDir, primary, undefined);
  // The files come as configs, not from the host's directory.
  const { Binds: _binds, ...host } = plan.create.HostConfig ?? {};
  return {
    create: { ...plan.create, HostConfig: host },
    swarmNode,
    files: new Map([...plan.files].map(([name, text]) => [`${POOLER_CONFIG_DIR}/${name}`, text])),
  };
}
