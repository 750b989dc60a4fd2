// The reaper: throwaway objects (job containers, verify/restore servers, their volumes, partial
// files of a file:// target) whose owner process is gone. Commands that start jobs reap first;
// `status` lists what it finds.
//
// Decisions (each a line of judgeLeftover):
// - Only roles backup, restore and verify are ever considered; primaries and replicas never.
// - An owner that runs (same host, same pid, same start time) keeps its objects: never touched.
// - An owner gone from this host: its objects are removed.
// - An owner on another host: shown, never removed (we cannot see its processes; a shared target
//   or engine may be in use there). Remove them from that host, or by hand.
// - No owner labels (made before owners were recorded): shown, never removed.
// - A finished `restore --as` server (its restored.json marker) is a server, not a leftover; a
//   running restore server without the marker is shown, never removed (it may be a finished
//   restore made from another config directory); its job containers and a stopped one go.
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DockerClient } from "../docker/client";
import { listThrowawayObjects, removeThrowawayObject, type ThrowawayObject } from "../docker/throwaway-objects";
import { RESTORED_MARKER } from "../backup/restore";
import { FileTarget, partialHost, type PartialFile } from "../backup/targets/file";
import type { BackupTarget } from "../backup/targets/target";
import { ownerOf, ownerState, pidRuns, processStartTime, type Owner, type OwnerState } from "./owner";

export interface Leftover {
  kind: "container" | "volume" | "partial-file";
  name: string;
  role: string;
  owner: Owner | null;
  /** Why it is a leftover, and whether the reaper removes it. */
  reason: string;
  removable: boolean;
}

export interface JudgeContext {
  ownerStateOf(owner: Owner): OwnerState;
  /** Nodes of finished `restore --as` servers. */
  restoredNodes: ReadonlySet<string>;
  /** An owner per node: a server container created without owner labels follows its volumes'. */
  nodeOwners: ReadonlyMap<string, Owner>;
  /** Nodes whose container runs. */
  runningNodes: ReadonlySet<string>;
}

/** Pure: is this throwaway object a leftover, and may it be removed? undefined: not a leftover. */
export function judgeLeftover(object: ThrowawayObject, context: JudgeContext): Leftover | undefined {
  if (!["backup", "restore", "verify"].includes(object.role)) return undefined;
  if (object.role === "restore" && context.restoredNodes.has(object.node)) return undefined;
  const owner = ownerOf(object.labels) ?? context.nodeOwners.get(object.node);
  const base = { kind: object.kind, name: object.name, role: object.role, owner: owner ?? null };
  if (!owner) return { ...base, reason: "no owner recorded (made by an older pgfort): remove it by hand if no pgfort runs", removable: false };
  const state = context.ownerStateOf(owner);
  if (state === "alive") return undefined;
  if (state === "unknown") return { ...base, reason: `owned by pid ${owner.pid} on host ${owner.host}: remove it from there`, removable: false };
  // A running restored server without its marker may be a finished restore made from another
  // config directory (the marker lives in its state directory): shown, never removed.
  if (object.role === "restore" && !object.node.endsWith("-job") && context.runningNodes.has(object.node)) {
    return { ...base, reason: `a running restored server whose restore by pid ${owner.pid} did not record its end: check it, then remove it with docker rm -f or restore --as ${object.node} --yes`, removable: false };
  }
  return { ...base, reason: `its owner (pid ${owner.pid}) is gone`, removable: true };
}

/** Pure: a partial file is a leftover when its writer is gone, or (no writer recorded) untouched for a day. */
export function judgePartial(file: PartialFile, context: Pick<JudgeContext, "ownerStateOf">, now: Date): Leftover | undefined {
  const base = { kind: "partial-file" as const, name: file.path, role: "backup", owner: file.owner ?? null };
  if (!file.owner) {
    const stale = now.getTime() - file.modifiedAt.getTime() > 24 * 3_600_000;
    return stale ? { ...base, reason: "no writer recorded and untouched for a day", removable: true } : undefined;
  }
  const state = context.ownerStateOf(file.owner);
  if (state === "alive") return undefined;
  if (state === "unknown") return { ...base, reason: `written by pid ${file.owner.pid} on host ${file.owner.host}`, removable: false };
  return { ...base, reason: `its writer (pid ${file.owner.pid}) is gone`, removable: true };
}

export interface ReapScope {
  cluster: string;
  stateDir: string;
  target?: BackupTarget;
}

/** Every leftover of the cluster (Docker objects, and partial files when the target is file://). */
export async function findLeftovers(docker: DockerClient, scope: ReapScope): Promise<Leftover[]> {
  return (await survey(docker, scope)).map(({ leftover }) => leftover);
}

/** Removes the removable leftovers (containers before volumes); returns what it removed. */
export async function reapLeftovers(docker: DockerClient, scope: ReapScope): Promise<Leftover[]> {
  const found = (await survey(docker, scope)).filter(({ leftover }) => leftover.removable);
  const order = { container: 0, volume: 1, "partial-file": 2 } as const;
  found.sort((a, b) => order[a.leftover.kind] - order[b.leftover.kind]);
  for (const { remove } of found) await remove();
  return found.map(({ leftover }) => leftover);
}

async function survey(docker: DockerClient, scope: ReapScope): Promise<Array<{ leftover: Leftover; remove: () => Promise<void> }>> {
  const localHost = os.hostname();
  const ownerStateOf = (owner: Owner) => ownerState(owner, localHost, processStartTime, pidRuns);
  const objects = await listThrowawayObjects(docker, scope.cluster);
  const nodeOwners = new Map<string, Owner>();
  for (const object of objects) {
    const owner = ownerOf(object.labels);
    if (owner && !nodeOwners.has(object.node)) nodeOwners.set(object.node, owner);
  }
  const restoredNodes = new Set(
    objects.filter((object) => object.role === "restore" && existsSync(path.join(scope.stateDir, object.node, RESTORED_MARKER))).map((object) => object.node),
  );
  const runningNodes = new Set(objects.filter((object) => object.kind === "container" && object.state === "running").map((object) => object.node));
  const found: Array<{ leftover: Leftover; remove: () => Promise<void> }> = [];
  for (const object of objects) {
    const leftover = judgeLeftover(object, { ownerStateOf, restoredNodes, nodeOwners, runningNodes });
    if (leftover) found.push({ leftover, remove: () => removeThrowawayObject(docker, object) });
  }
  if (scope.target instanceof FileTarget) {
    const target = scope.target;
    const now = new Date();
    // Partial names carry the host in safe characters only: compare in that form.
    const writerStateOf = (owner: Owner) => ownerStateOf(owner.host === partialHost(localHost) ? { ...owner, host: localHost } : owner);
    for (const file of await target.listPartials(`${scope.cluster}/`)) {
      const leftover = judgePartial(file, { ownerStateOf: writerStateOf }, now);
      if (leftover) found.push({ leftover, remove: () => target.removePartial(file) });
    }
  }
  return found;
}
