// A replica's spec: the primary's limits, settings and hardening, in replica mode. Pure.
import type { Config } from "../config/schema";
import { LABEL_UPSTREAM } from "../docker/labels";
import { containerName, RESERVED_NODE_NAMES } from "../docker/names";
import type { NodeSpec } from "../cluster/plan";
import { SECRETS, SECRETS_DIR } from "../cluster/plan";
import { ConfigError } from "../errors";

const NODE_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Physical replication slot names allow lowercase letters, digits and underscores. */
export function slotName(node: string): string {
  return node.replace(/-/g, "_");
}

export function validateReplicaName(name: string, primaryNode: string): void {
  if (!NODE_NAME.test(name)) {
    throw new ConfigError(`replica name ${JSON.stringify(name)} is not valid`, "use lowercase letters, digits and dashes, starting with a letter");
  }
  if (name === primaryNode || RESERVED_NODE_NAMES.includes(name)) {
    throw new ConfigError(`replica name ${name} is reserved`, "choose another name, e.g. r1");
  }
}

export function planReplicaSpec(config: Config, name: string, primaryNode: string): NodeSpec {
  const fromConfig = config.replicas.find((replica) => replica.name === name);
  return {
    node: name,
    role: "replica",
    // Exactly like the primary unless the replica's entry says otherwise: a standby must be able
    // to take the primary's load when promoted, and hot standby needs max_connections >= the primary's.
    resources: { ...config.primary.resources, ...fromConfig?.resources },
    settings: { ...config.primary.settings, ...fromConfig?.settings },
    port: fromConfig?.port,
    volumeLabels: { [LABEL_UPSTREAM]: primaryNode },
    extraEnv: [
      `PGFORT_PRIMARY_HOST=${containerName(config.cluster, primaryNode)}`,
      "PGFORT_PRIMARY_PORT=5432",
      `PGFORT_REPLICATION_PASSWORD_FILE=${SECRETS_DIR}/${SECRETS.replication.name}`,
      `PGFORT_REPLICATION_SLOT=${slotName(name)}`,
      `PGFORT_NODE_NAME=${name}`,
    ],
  };
}
