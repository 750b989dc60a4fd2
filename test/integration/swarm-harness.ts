// A Docker swarm for integration tests on this one machine: N engines (Docker in Docker, image
// images/swarm-node) on one user-defined bridge with a fixed subnet, all of them swarm managers so
// the swarm keeps its quorum when a test kills one. The host reaches each inner engine at
// tcp://<node ip>:2375 (the bridge is routed from the host), with dockerode, never the code under
// test. Every object carries pgfort.cluster=<cluster> and pgfort.test=swarm, so the suite's
// afterEach (removeLabelled in hooks.ts) takes it all back even when a test fails before teardown.
//
// What this kernel lacks shapes the services tests may run on it: no IP_VS, so no VIP or ingress
// routing mesh (services use endpoint mode dnsrr and host-mode published ports); the ingress
// network may log errors in the nodes' logs, which is expected.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";
import { pack } from "tar-stream";
import { tolerate } from "../../src/docker/client";
import { execIn, type ExecResult } from "../../src/docker/exec";
import { logTail } from "../../src/docker/health";
import { packagePath } from "../../src/paths";

export interface SwarmNode {
  hostname: string;
  container: string;
  ip: string;
  dockerHost: string;
  docker: Dockerode;
}

export interface Swarm {
  /** n1, n2, n3…: all of them managers, so the swarm survives losing one (of three). */
  nodes: SwarmNode[];
  /** The nodes' bridge subnet (fixed): also the inner engines' --insecure-registry. */
  subnet: string;
  /** `docker kill` of the node's container: a lost machine. Resolves once it has stopped. */
  kill(node: SwarmNode): Promise<void>;
  /** Starts the node's container again; resolves when its engine answers (see waitReady for the swarm). */
  start(node: SwarmNode): Promise<void>;
  /** Waits until every node (or those given) shows Ready, and Reachable as a manager, in `docker node ls` of `from`. */
  waitReady(options?: { from?: SwarmNode; nodes?: SwarmNode[]; timeoutMs?: number }): Promise<void>;
  /** `docker exec` in a container of the node's INNER engine. */
  exec(node: SwarmNode, container: string, cmd: string[], opts?: { user?: string; env?: string[] }): Promise<ExecResult>;
  /** The id of the running container of a task of `service` on the node (undefined when none runs there). */
  taskContainer(node: SwarmNode, service: string): Promise<string | undefined>;
  /** Loads host images into the nodes (all by default), skipping a node that has the same image id. */
  loadImages(images: string[], nodes?: SwarmNode[]): Promise<void>;
  /** Removes the node containers (force), their volumes and the network; idempotent. */
  teardown(): Promise<void>;
}

/** The nodes' bridge: 10.231/16 is outside Docker's default local pools (172.17-31/16, 192.168/16). */
export const SWARM_SUBNET = "10.231.0.0/24";
/** This host's address on the nodes' bridge: what the nodes reach the host's own servers at. */
export const SWARM_GATEWAY = "10.231.0.1";
/** Overlay networks' pool (swarm's default, 10.0.0.0/8, would contain SWARM_SUBNET). */
export const SWARM_ADDR_POOL = "10.232.0.0/16";
const ENGINE_PORT = 2375;
const NODE_IMAGE_DIR = "images/swarm-node";
const NODE_IMAGE_FILES = ["Dockerfile", "node-entrypoint.sh"];
const ENGINE_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 120_000;

const host = new Dockerode();

export async function startSwarm(opts: {
  cluster: string;
  nodes?: number;
  images?: string[];
  /**
   * The dispatcher's heartbeat period (swarm default 5 s). A manager marks a silent node Down some
   * heartbeats later: measured here, n1 killed is listed Down by n2 after ~40 s with 5 s, ~21 s with
   * 1 s (then the floor is the raft election, 10-20 s, not tunable on this dockerd 20.10).
   */
  heartbeatSeconds?: number;
  /** Progress lines with timings, e.g. console.error. */
  log?: (line: string) => void;
}): Promise<Swarm> {
  const { cluster } = opts;
  const count = opts.nodes ?? 3;
  if (count < 1 || count > 9) throw new Error(`a swarm of ${count} nodes: between 1 and 9, please`);
  const log = opts.log ?? (() => undefined);
  const labels = { "pgfort.cluster": cluster, "pgfort.test": "swarm" };
  const networkName = `pgfort-swarm-${cluster}`;
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await work();
    log(`swarm ${cluster}: ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  };

  const image = await timed("node image ready", ensureNodeImage);
  const nodes: SwarmNode[] = Array.from({ length: count }, (_, index) => {
    const hostname = `n${index + 1}`;
    const ip = `10.231.0.${11 + index}`;
    return { hostname, container: `pgfort-swarm-${cluster}-${hostname}`, ip, dockerHost: `tcp://${ip}:${ENGINE_PORT}`, docker: innerEngine(ip) };
  });

  const swarm: Swarm = {
    nodes,
    subnet: SWARM_SUBNET,
    async kill(node) {
      const container = host.getContainer(node.container);
      await tolerate(container.kill(), [409], undefined); // 409: not running
      await container.wait({ condition: "not-running" });
    },
    async start(node) {
      await tolerate(host.getContainer(node.container).start(), [304], undefined); // 304: running already
      await waitForEngine(node);
    },
    async waitReady(options = {}) {
      await waitReady(options.from ?? nodes[0]!, options.nodes ?? nodes, options.timeoutMs ?? READY_TIMEOUT_MS);
    },
    exec(node, container, cmd, execOptions = {}) {
      return execIn(node.docker.getContainer(container), cmd, execOptions);
    },
    async taskContainer(node, service) {
      const containers = await node.docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${service}`], status: ["running"] } });
      return containers[0]?.Id;
    },
    loadImages(images, onNodes = nodes) {
      return loadImages(images, onNodes, log);
    },
    async teardown() {
      const filters = { label: [`pgfort.cluster=${cluster}`, "pgfort.test=swarm"] };
      // Containers first: they hold the volumes and the network.
      await Promise.all(
        (await host.listContainers({ all: true, filters })).map(({ Id }) => tolerate(host.getContainer(Id).remove({ force: true, v: true }), [404], undefined)),
      );
      for (const { Name } of (await host.listVolumes({ filters })).Volumes ?? []) await tolerate(host.getVolume(Name).remove(), [404], undefined);
      for (const { Id } of await host.listNetworks({ filters })) await tolerate(host.getNetwork(Id).remove(), [404], undefined);
    },
  };

  try {
    await timed("network and node containers started", async () => {
      await createNetwork(networkName, labels);
      await Promise.all(nodes.map((node) => createNode(node, image, networkName, labels)));
    });
    await timed("inner engines answer", () => Promise.all(nodes.map((node) => waitForEngine(node))));
    await timed("swarm formed", () => formSwarm(nodes, opts.heartbeatSeconds));
    if (opts.images?.length) await timed(`images loaded (${opts.images.join(", ")})`, () => loadImages(opts.images ?? [], nodes, log));
  } catch (error) {
    await swarm.teardown().catch(() => undefined); // the afterEach hook would too; a failed start leaves nothing for the caller
    throw error;
  }
  return swarm;
}

/** A dockerode for an inner engine. No keep-alive: a socket kept to a killed node would hang the next request. */
function innerEngine(ip: string): Dockerode {
  return new Dockerode({ host: ip, port: ENGINE_PORT, protocol: "http", agent: new http.Agent({ keepAlive: false }) } as Dockerode.DockerOptions);
}

let nodeImage: Promise<string> | undefined;

/**
 * The node image, tagged with a hash of its build files: built (offline, from the local
 * debian:bookworm-slim) when no image has that tag, i.e. the first time and after any change.
 */
function ensureNodeImage(): Promise<string> {
  return (nodeImage ??= (async () => {
    const files = await Promise.all(NODE_IMAGE_FILES.map(async (name) => ({ name, content: await readFile(packagePath(NODE_IMAGE_DIR, name)) })));
    const hash = createHash("sha256");
    for (const { name, content } of files) hash.update(`${name}\0${content.length}\0`).update(content);
    const digest = hash.digest("hex").slice(0, 16);
    const tag = `pgfort-test/swarm-node:${digest}`;
    const existing = await tolerate(host.getImage(tag).inspect(), [404], undefined);
    if (existing) return tag;
    const archive = pack();
    for (const { name, content } of files) archive.entry({ name, mode: name.endsWith(".sh") ? 0o755 : 0o644, mtime: new Date("2000-01-01T00:00:00Z") }, content);
    archive.finalize();
    const stream = await host.buildImage(Readable.from(archive) as unknown as NodeJS.ReadableStream, {
      t: tag,
      labels: { "pgfort.test": "swarm-node", "pgfort.test.content-hash": digest },
      pull: false,
    });
    const events = await followProgress(stream);
    const failure = events.find((event) => event.error);
    if (failure) {
      const output = events.map((event) => event.stream ?? "").join("").split("\n").slice(-30).join("\n");
      throw new Error(`building the swarm node image ${tag} from ${NODE_IMAGE_DIR} failed: ${failure.error}\n${output}`);
    }
    return tag;
  })().catch((error: unknown) => {
    nodeImage = undefined; // the next caller tries again
    throw error;
  }));
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

function followProgress(stream: NodeJS.ReadableStream): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) =>
    host.modem.followProgress(stream, (error: Error | null, events: ProgressEvent[]) => (error ? reject(error) : resolve(events))),
  );
}

async function createNetwork(name: string, labels: Record<string, string>): Promise<void> {
  try {
    await host.createNetwork({
      Name: name,
      Driver: "bridge",
      CheckDuplicate: true,
      Labels: labels,
      IPAM: { Driver: "default", Config: [{ Subnet: SWARM_SUBNET, Gateway: SWARM_GATEWAY }] },
    });
  } catch (error) {
    // The subnet is fixed, so a second swarm on this engine (a test running side by side, or one
    // killed before its cleanup) makes creation fail: say which network has it.
    const holders = (await host.listNetworks()).filter((network) => network.IPAM?.Config?.some((config) => config.Subnet === SWARM_SUBNET));
    const held = holders.length ? ` (network ${holders.map((network) => network.Name).join(", ")} has it: another swarm harness, or a leftover; \`docker network rm\` it once no test uses it)` : "";
    throw new Error(`cannot create the swarm network ${name} on ${SWARM_SUBNET}${held}: ${String(error)}`, { cause: error });
  }
}

async function createNode(node: SwarmNode, image: string, network: string, labels: Record<string, string>): Promise<void> {
  // A named, labelled volume (an anonymous one would escape the label cleanup): the inner engine's
  // images, containers and swarm state, kept when a test kills and starts the node.
  const volume = `${node.container}-docker`;
  await host.createVolume({ Name: volume, Labels: labels });
  const container = await host.createContainer({
    name: node.container,
    Hostname: node.hostname, // the swarm node's name
    Image: image,
    Env: [`PGFORT_NODE_INSECURE_REGISTRY=${SWARM_SUBNET}`],
    Labels: { ...labels, "pgfort.swarm.node": node.hostname },
    HostConfig: {
      // Not --privileged. SYS_ADMIN: mount (the cgroup remount, overlay2 and the netns of the inner
      // engine); NET_ADMIN: bridges, veths, iptables, vxlan. Unconfined: the default AppArmor
      // profile denies mount, the default seccomp profile unshare/mount for the inner runc.
      // SYS_PTRACE: `docker exec` (and so every healthcheck) into a container whose process runs
      // as another uid (postgres, 999): runc opens /proc/<pid>/ns/* of it, a ptrace-mode access;
      // without it the exec fails with "error executing setns process: exit status 1".
      CapAdd: ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"],
      SecurityOpt: ["apparmor=unconfined", "seccomp=unconfined"],
      Mounts: [{ Type: "volume", Source: volume, Target: "/var/lib/docker" }],
      NetworkMode: network,
    },
    // A fixed address: a killed node must come back where the other managers expect it.
    NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: node.ip } } } },
  });
  await container.start();
}

/** Waits until the node's inner engine answers; fails with its last log lines when it does not in time, or the node exits. */
async function waitForEngine(node: SwarmNode, timeoutMs = ENGINE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      // A 2 s bound per try: a stopped node's address does not refuse, it goes unanswered.
      await (node.docker.ping as (options: { abortSignal: AbortSignal }) => Promise<unknown>)({ abortSignal: AbortSignal.timeout(2_000) });
      return;
    } catch (error) {
      last = error;
    }
    const state = (await host.getContainer(node.container).inspect()).State;
    const failure = !state.Running ? `exited with code ${state.ExitCode}` : Date.now() > deadline ? `does not answer at ${node.dockerHost} after ${timeoutMs / 1000} s (${String(last)})` : undefined;
    if (failure) {
      const tail = await logTail(() => host.getContainer(node.container).logs({ stdout: true, stderr: true, tail: 30, follow: false }));
      throw new Error(`swarm node ${node.container}: its engine ${failure}; its last log lines:\n${tail}`);
    }
    await sleep(200);
  }
}

interface SwarmNodeInfo {
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Reachability?: string; Leader?: boolean };
}

async function formSwarm(nodes: SwarmNode[], heartbeatSeconds: number | undefined): Promise<void> {
  const [first, ...others] = nodes;
  if (!first) return;
  await first.docker.swarmInit({
    ListenAddr: "0.0.0.0:2377",
    AdvertiseAddr: first.ip,
    DefaultAddrPool: [SWARM_ADDR_POOL],
    SubnetSize: 24,
    ...(heartbeatSeconds === undefined ? {} : { Spec: { Dispatcher: { HeartbeatPeriod: Math.round(heartbeatSeconds * 1e9) } } }),
  });
  const { JoinTokens } = (await first.docker.swarmInspect()) as { JoinTokens: { Manager: string } };
  // One at a time: raft adds one member per configuration change.
  for (const node of others) {
    await node.docker.swarmJoin({ ListenAddr: "0.0.0.0:2377", AdvertiseAddr: node.ip, RemoteAddrs: [`${first.ip}:2377`], JoinToken: JoinTokens.Manager });
  }
  await waitReady(first, nodes, READY_TIMEOUT_MS);
}

async function waitReady(from: SwarmNode, nodes: SwarmNode[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = "";
  for (;;) {
    try {
      const listed = (await from.docker.listNodes()) as SwarmNodeInfo[];
      seen = listed.map((info) => `${info.Description?.Hostname}:${info.Status?.State}/${info.ManagerStatus?.Reachability ?? "worker"}`).join(", ");
      const ready = (node: SwarmNode) =>
        listed.some((info) => info.Description?.Hostname === node.hostname && info.Status?.State === "ready" && info.ManagerStatus?.Reachability === "reachable");
      if (nodes.every(ready)) return;
    } catch (error) {
      seen = String(error);
    }
    if (Date.now() > deadline) throw new Error(`swarm nodes ${nodes.map((node) => node.hostname).join(", ")} not all Ready managers after ${timeoutMs / 1000} s; ${from.hostname} lists: ${seen}`);
    await sleep(500);
  }
}

/**
 * Loads host images into the nodes: each image `docker save`d once to a temporary file, then
 * loaded into every node that lacks that image id, in parallel.
 */
async function loadImages(images: string[], nodes: SwarmNode[], log: (line: string) => void): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-swarm-images-"));
  try {
    for (const [index, ref] of images.entries()) {
      const { Id, Size } = await host.getImage(ref).inspect();
      const missing = (
        await Promise.all(nodes.map(async (node) => ((await tolerate(node.docker.getImage(ref).inspect(), [404], undefined))?.Id === Id ? undefined : node)))
      ).filter((node): node is SwarmNode => node !== undefined);
      if (missing.length === 0) continue;
      const started = Date.now();
      const file = path.join(directory, `${index}.tar`);
      await pipeline(await host.getImage(ref).get(), createWriteStream(file));
      const saved = Date.now();
      await Promise.all(
        missing.map(async (node) => {
          const events = await new Promise<ProgressEvent[]>((resolve, reject) =>
            node.docker.loadImage(createReadStream(file), { quiet: true }).then(
              (stream) => node.docker.modem.followProgress(stream, (error: Error | null, result: ProgressEvent[]) => (error ? reject(error) : resolve(result))),
              reject,
            ),
          );
          const failure = events.find((event) => event.error ?? event.errorDetail);
          if (failure) throw new Error(`loading ${ref} into swarm node ${node.hostname} failed: ${failure.error ?? failure.errorDetail?.message}`);
        }),
      );
      log(`image ${ref} (${(Size / 1e6).toFixed(0)} MB): saved in ${((saved - started) / 1000).toFixed(1)} s, loaded into ${missing.map((node) => node.hostname).join(", ")} in ${((Date.now() - saved) / 1000).toFixed(1)} s`);
      await rm(file, { force: true });
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
