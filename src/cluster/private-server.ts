// A private server on a node's volumes: the node's own container spec (image, volumes, limits,
// hardening, secrets, sockets) with another container name, no network, no published port and
// its own conf.d. Nothing can connect to it but pgfort through `docker exec` and the socket
// volume, so nothing writes while pgfort works on the data (an upgrade's move, a collation
// check before a new image takes a data directory). Planned purely; started by startPrivateServer.
import type { ConfFiles } from "../config/render-conf-d";
import type { ContainerCreateOptions, DockerClient } from "../docker/client";
import { CONF_D_DIR, type NodePlan } from "./plan";
import { writeConfD } from "./state";

/** The conf.d file that makes a server private; `archive: false` also stops its archiving. */
export const PRIVATE_CONF_FILE = "zz-private.conf";

export function privateServerConf(options: { archive: boolean; extra?: readonly string[] }): string {
  return [
    "# pgfort: a private server while pgfort works on its data (removed when it ends)",
    "listen_addresses = ''",
    ...(options.archive ? [] : ["archive_mode = off"]),
    ...(options.extra ?? []),
    "",
  ].join("\n");
}

/**
 * `hostname` names its directory in the socket volume (and so its WAL spool): the node's own keeps
 * its archiving going through the agent; another one takes it out of the agent's sight.
 */
export function planPrivateServer(plan: NodePlan, options: { name: string; hostname?: string; confDir: string; labels: Record<string, string> }): ContainerCreateOptions {
  const host = plan.create.HostConfig ?? {};
  return {
    ...plan.create,
    name: options.name,
    Hostname: options.hostname ?? options.name,
    Labels: options.labels,
    ExposedPorts: {},
    HostConfig: {
      ...host,
      PortBindings: {},
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      Binds: (host.Binds ?? []).map((bind) => (bind.endsWith(`:${CONF_D_DIR}:ro`) ? `${options.confDir}:${CONF_D_DIR}:ro` : bind)),
      NetworkMode: "none",
    },
    NetworkingConfig: { EndpointsConfig: {} },
  };
}

/** Writes its conf.d, removes a leftover of its name, starts it and waits until it is healthy. */
export async function startPrivateServer(docker: DockerClient, create: ContainerCreateOptions, confDir: string, confD: ConfFiles): Promise<void> {
  const name = create.name ?? "";
  await writeConfD(confDir, confD);
  await docker.removeContainer(name);
  await docker.createAndStart(create);
  await docker.waitUntilHealthy(name, 180_000);
}
