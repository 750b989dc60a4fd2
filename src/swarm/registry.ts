// How the images reach the swarm's nodes without a public registry: a registry (Debian's
// docker-registry, images/registry) runs as a service on the manager pgfort talks to, with its
// port published there; pgfort pushes the cluster's image to it and the services name the image
// by the registry's address and the pushed digest, so every node pulls exactly that image.
// Each node's engine must accept that address over plain HTTP (insecure-registries): checked on
// the manager, said on a task that cannot pull.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { DockerClient } from "../docker/client";
import type { SwarmClient, SwarmState } from "../docker/swarm";
import { buildImage, type BuildListener } from "../image/build";
import { createBuildContext } from "../image/context";
import type { ImageBuildPlan } from "../image/plan";
import { NOT_YET, done, pollUntil } from "../lifecycle/poll";
import { packagePath } from "../paths";
import { SwarmError } from "../errors";
import { VERSION } from "../version";
import { planRegistryService } from "./plan";
import { hashSpec } from "../cluster/plan";
import { LABEL_SPEC_HASH } from "../docker/labels";

export const REGISTRY_FILES = ["images/registry/Dockerfile", "images/registry/config.yml"] as const;
export const REGISTRY_IMAGE = "pgfort/registry";
const LABEL_REGISTRY_DIGEST = "io.pgfort.registry-digest";

/** Builds the registry image on the manager when it is missing or its files changed; returns its tag. */
export async function ensureRegistryImage(docker: DockerClient, listener: BuildListener & { onInfo?(message: string): void } = {}): Promise<string> {
  const hash = createHash("sha256");
  for (const file of REGISTRY_FILES) hash.update(`${file}\0`).update(await readFile(path.join(packagePath(), file)));
  const digest = hash.digest("hex").slice(0, 16);
  const tag = `${REGISTRY_IMAGE}:${VERSION}`;
  if ((await docker.imageExists(tag)) && (await docker.inspectImage(tag)).Config?.Labels?.[LABEL_REGISTRY_DIGEST] === digest) return tag;
  listener.onInfo?.(`registry image ${tag} is missing or out of date: building it`);
  const plan: ImageBuildPlan = {
    tag,
    dockerfile: REGISTRY_FILES[0],
    buildArgs: {},
    labels: { "io.pgfort.built-by": `pgfort ${VERSION}`, [LABEL_REGISTRY_DIGEST]: digest },
    noCache: false,
    pgMajor: 0,
    base: "debian:bookworm-slim",
  };
  await buildImage(docker, plan, listener, await createBuildContext(REGISTRY_FILES));
  return tag;
}

/** The registry's address as every node reaches it: the manager's swarm address and the published port. */
export function registryAddress(manager: SwarmState, port: number): string {
  return `${manager.nodeAddr}:${port}`;
}

/** Whether an engine's insecure-registries admit the address (an IPv4 CIDR or the exact host:port). */
export function registryTrusted(address: string, insecure: { cidrs: string[]; names: string[] }): boolean {
  if (insecure.names.includes(address)) return true;
  const host = address.replace(/:\d+$/, "");
  return insecure.cidrs.some((cidr) => inCidr(host, cidr));
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = "", bits = "32"] = cidr.split("/");
  const toNumber = (value: string) => value.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(base)) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size);
}

/**
 * Runs the registry service, then pushes `image` to it; returns the reference the services use
 * (`<address>/<repository>@sha256:…`). The push is retried while the registry starts.
 */
export async function publishImage(docker: DockerClient, swarm: SwarmClient, cluster: string, image: string, port: number, listener: BuildListener & { onInfo?(message: string): void } = {}): Promise<string> {
  const manager = await swarm.state();
  const address = registryAddress(manager, port);
  if (!registryTrusted(address, await swarm.insecureRegistries())) {
    throw new SwarmError(
      `the swarm's registry ${address} serves plain HTTP, and this engine does not accept it`,
      `add "${address}" (or the nodes' subnet) to "insecure-registries" in /etc/docker/daemon.json on every node and restart dockerd (docker info shows "Insecure Registries")`,
    );
  }
  const registryImage = await ensureRegistryImage(docker, listener);
  const spec = planRegistryService(cluster, registryImage, manager.nodeId, port);
  // By the spec's hash, as the servers: the engine's copy of a spec carries defaults, and would never equal ours.
  const specHash = hashSpec(spec as never, (await docker.inspectImage(registryImage)).Id);
  spec.Labels = { ...spec.Labels, [LABEL_SPEC_HASH]: specHash };
  const existing = await swarm.service(String(spec.Name));
  if (!existing) await swarm.createService(spec);
  else if (existing.labels[LABEL_SPEC_HASH] !== specHash) await swarm.updateService(String(spec.Name), existing.version, spec);
  const repository = `${address}/${image.replace(/:[^:/]*$/, "")}`;
  const tag = /:([^:/]+)$/.exec(image)?.[1] ?? "latest";
  await swarm.tagImage(image, repository, tag);
  listener.onInfo?.(`pushing ${image} to the swarm's registry ${address}`);
  const digest = await pollUntil(
    { timeoutMs: 120_000, intervalMs: 1000 },
    async () => {
      try {
        return done(await swarm.pushImage(repository, tag));
      } catch {
        return NOT_YET;
      }
    },
    async () => new SwarmError(`could not push ${image} to ${address} in 2 minutes; the registry's log:\n${await swarm.serviceLogs(String(spec.Name))}`, `check the service: docker service ps ${String(spec.Name)}`),
  );
  return `${repository}@${digest}`;
}
