// Builds the agent image on top of the cluster's image, and keeps it current: `up` and the job
// hand-off call ensureAgentImage, which rebuilds only when the server image or pgfort changed.
import type { ImageConfig } from "../config/schema";
import type { DockerClient } from "../docker/client";
import { VERSION } from "../version";
import { createAgentContext, readAgentSources } from "./agent-context";
import { LABEL_AGENT_DIGEST, planAgentBuild } from "./agent-plan";
import { buildImage, type BuildListener, type BuiltImage } from "./build";
import type { ImageBuildPlan } from "./plan";

async function planFor(docker: DockerClient, image: ImageConfig, noCache: boolean) {
  const [server, sources] = await Promise.all([docker.inspectImage(image.tag), readAgentSources()]);
  const plan = planAgentBuild(image, { serverImageId: server.Id, digest: sources.digest, nodeVersion: sources.nodeVersion }, VERSION, noCache);
  return { plan, sources };
}

/** Builds the agent image from the server image `image.tag`, which must exist. */
export async function buildAgentImage(docker: DockerClient, image: ImageConfig, listener: BuildListener = {}, noCache = false): Promise<BuiltImage> {
  const { plan, sources } = await planFor(docker, image, noCache);
  return buildImage(docker, plan, listener, createAgentContext(sources));
}

/** Builds the agent image when it is missing or was built from another server image or pgfort; returns whether it built. */
export async function ensureAgentImage(docker: DockerClient, image: ImageConfig, listener: BuildListener & { onInfo?(message: string): void } = {}): Promise<boolean> {
  const { plan, sources } = await planFor(docker, image, false);
  if (await isCurrent(docker, plan)) return false;
  listener.onInfo?.(`agent image ${plan.tag} is missing or out of date: building it`);
  await buildImage(docker, plan, listener, createAgentContext(sources));
  return true;
}

async function isCurrent(docker: DockerClient, plan: ImageBuildPlan): Promise<boolean> {
  if (!(await docker.imageExists(plan.tag))) return false;
  const labels = (await docker.inspectImage(plan.tag)).Config?.Labels ?? {};
  return labels[LABEL_AGENT_DIGEST] === plan.labels[LABEL_AGENT_DIGEST];
}
