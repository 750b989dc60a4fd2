// The engine's Swarm API, for `engine: swarm` (src/swarm/): nodes, services and their tasks,
// secrets, configs, overlay networks, and pushing an image to the swarm's registry. Made by
// DockerClient.swarm(), which lends it its one way of mapping the engine's failures.
import type Dockerode from "dockerode";
import { tolerate } from "./client";
import { logTail } from "./health";

type Request = <T>(doing: string | undefined, work: () => Promise<T>) => Promise<T>;

export interface SwarmState {
  /** "active" on a node of a swarm; "inactive" on a lone engine. */
  localState: string;
  /** A manager: the only kind of node that answers the Swarm API. */
  manager: boolean;
  nodeId: string;
  /** The address other nodes reach this one at. */
  nodeAddr: string;
}

export interface SwarmNodeInfo {
  id: string;
  hostname: string;
  /** ready, down, unknown, disconnected. */
  state: string;
  availability: string;
  addr: string;
  manager: boolean;
}

export interface TaskInfo {
  id: string;
  nodeId: string;
  /** new … running, complete, shutdown, failed, rejected, orphaned. */
  state: string;
  desiredState: string;
  error: string | undefined;
  containerId: string | undefined;
  timestamp: string;
}

export interface ServiceInfo {
  id: string;
  name: string;
  version: number;
  spec: Dockerode.ServiceSpec;
  labels: Record<string, string>;
}

/** A secret or a config: both are named, labelled, immutable blobs in the swarm's store. */
export interface StoredObject {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export type StoreKind = "secret" | "config";

export class SwarmClient {
  constructor(
    private readonly api: Dockerode,
    private readonly request: Request,
  ) {}

  async state(): Promise<SwarmState> {
    const info = (await this.request("read the engine's info", () => this.api.info())) as { Swarm?: Record<string, unknown> };
    const swarm = info.Swarm ?? {};
    return {
      localState: String(swarm["LocalNodeState"] ?? "inactive"),
      manager: Boolean(swarm["ControlAvailable"]),
      nodeId: String(swarm["NodeID"] ?? ""),
      nodeAddr: String(swarm["NodeAddr"] ?? ""),
    };
  }

  /** The engine's insecure (plain HTTP) registries: CIDRs and host:port names. */
  async insecureRegistries(): Promise<{ cidrs: string[]; names: string[] }> {
    const info = (await this.request("read the engine's info", () => this.api.info())) as {
      RegistryConfig?: { InsecureRegistryCIDRs?: string[]; IndexConfigs?: Record<string, { Name?: string; Secure?: boolean }> };
    };
    const config = info.RegistryConfig ?? {};
    const names = Object.values(config.IndexConfigs ?? {})
      .filter((index) => index.Secure === false)
      .map((index) => String(index.Name));
    return { cidrs: config.InsecureRegistryCIDRs ?? [], names };
  }

  async nodes(): Promise<SwarmNodeInfo[]> {
    const nodes = (await this.request("list the swarm's nodes", () => this.api.listNodes())) as Array<Record<string, any>>;
    return nodes.map((node) => ({
      id: String(node["ID"]),
      hostname: String(node["Description"]?.["Hostname"] ?? ""),
      state: String(node["Status"]?.["State"] ?? "unknown"),
      availability: String(node["Spec"]?.["Availability"] ?? "active"),
      addr: String(node["ManagerStatus"]?.["Addr"] ?? node["Status"]?.["Addr"] ?? "").replace(/:\d+$/, ""),
      manager: node["Spec"]?.["Role"] === "manager",
    }));
  }

  /** Creates the overlay network unless it exists; true when created now. */
  async ensureOverlay(name: string, labels: Record<string, string>, encrypted: boolean): Promise<boolean> {
    const networks = await this.request("list networks", () => this.api.listNetworks({ filters: { name: [name] } }));
    if (networks.some((network) => network.Name === name)) return false;
    await this.request(`create overlay network ${name}`, () =>
      this.api.createNetwork({ Name: name, Driver: "overlay", Attachable: true, Labels: labels, CheckDuplicate: true, Options: encrypted ? { encrypted: "" } : {} }),
    );
    return true;
  }

  async removeNetwork(name: string): Promise<void> {
    await this.request(`remove network ${name}`, () => tolerate(this.api.getNetwork(name).remove(), [404], undefined));
  }

  async networks(filters: { label: string[] }): Promise<string[]> {
    const networks = await this.request("list networks", () => this.api.listNetworks({ filters }));
    return networks.map((network) => network.Name);
  }

  async stored(kind: StoreKind, filters: { label: string[] }): Promise<StoredObject[]> {
    const list = (await this.request<unknown>(`list the swarm's ${kind}s`, () =>
      kind === "secret" ? this.api.listSecrets({ filters }) : this.api.listConfigs({ filters }),
    )) as Array<{ ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }>;
    return list.map((item) => ({ id: item.ID, name: String(item.Spec?.Name), labels: item.Spec?.Labels ?? {} }));
  }

  /** Stores the blob under `name` (names carry the content's digest: an existing name is never stored again); returns its id. */
  async createStored(kind: StoreKind, name: string, data: string, labels: Record<string, string>): Promise<string> {
    const spec = { Name: name, Labels: labels, Data: Buffer.from(data).toString("base64") };
    const created = (await this.request<unknown>(`create ${kind} ${name}`, () =>
      kind === "secret" ? this.api.createSecret(spec) : this.api.createConfig(spec),
    )) as { id?: string; ID?: string };
    return String(created.id ?? created.ID);
  }

  /** Removes a secret or config; one a service still uses is kept (the engine refuses), and false says so. */
  async removeStored(kind: StoreKind, id: string): Promise<boolean> {
    try {
      await this.request<unknown>(`remove ${kind} ${id}`, () =>
        tolerate(kind === "secret" ? this.api.getSecret(id).remove() : this.api.getConfig(id).remove(), [404], undefined),
      );
      return true;
    } catch {
      return false;
    }
  }

  async service(name: string): Promise<ServiceInfo | undefined> {
    const info = (await this.request(`inspect service ${name}`, () =>
      tolerate<Record<string, any> | undefined>(this.api.getService(name).inspect(), [404], undefined),
    )) as Record<string, any> | undefined;
    return info ? toService(info) : undefined;
  }

  async services(filters: { label: string[] }): Promise<ServiceInfo[]> {
    const list = (await this.request("list services", () => this.api.listServices({ filters }))) as Array<Record<string, any>>;
    return list.map(toService);
  }

  async createService(spec: Dockerode.ServiceSpec): Promise<void> {
    await this.request(`create service ${spec.Name}`, () => this.api.createService(spec));
  }

  /** Replaces the service's spec (the engine checks `version`: a concurrent change fails instead of being lost). */
  async updateService(name: string, version: number, spec: Dockerode.ServiceSpec): Promise<void> {
    await this.request(`update service ${name}`, () => this.api.getService(name).update({ ...spec, version }));
  }

  async removeService(name: string): Promise<void> {
    await this.request(`remove service ${name}`, () => tolerate(this.api.getService(name).remove(), [404], undefined));
  }

  /** The service's tasks; none once the service is gone (the engine then refuses the filter). */
  async tasks(service: string): Promise<TaskInfo[]> {
    const tasks = (await this.request(`list the tasks of ${service}`, () =>
      this.api.listTasks({ filters: { service: [service] } }).catch((error: unknown) => {
        if (/service .* not found/i.test(String((error as { json?: { message?: string } })?.json?.message ?? error))) return [];
        throw error;
      }),
    )) as Array<Record<string, any>>;
    return tasks.map((task) => ({
      id: String(task["ID"]),
      nodeId: String(task["NodeID"] ?? ""),
      state: String(task["Status"]?.["State"] ?? "unknown"),
      desiredState: String(task["DesiredState"] ?? "unknown"),
      error: task["Status"]?.["Err"] ? String(task["Status"]["Err"]) : undefined,
      containerId: task["Status"]?.["ContainerStatus"]?.["ContainerID"] || undefined,
      timestamp: String(task["Status"]?.["Timestamp"] ?? ""),
    }));
  }

  /** A service's log (every task's, through the manager), stdout and stderr together. */
  async serviceLogs(name: string): Promise<string> {
    return logTail(async () => {
      const raw = (await this.api.getService(name).logs({ stdout: true, stderr: true, follow: false } as never)) as unknown;
      return Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
    });
  }

  async tagImage(image: string, repo: string, tag: string): Promise<void> {
    await this.request(`tag ${image} as ${repo}:${tag}`, () => this.api.getImage(image).tag({ repo, tag }));
  }

  /** Pushes `repo:tag`; returns the digest the registry stored it under. */
  async pushImage(repo: string, tag: string): Promise<string> {
    const stream = (await this.request(`push ${repo}:${tag}`, () => this.api.getImage(`${repo}:${tag}`).push({ tag }))) as NodeJS.ReadableStream;
    const events = await new Promise<Array<Record<string, any>>>((resolve, reject) =>
      this.api.modem.followProgress(stream, (error: Error | null, output: Array<Record<string, any>>) => (error ? reject(error) : resolve(output))),
    );
    const failed = events.find((event) => event["error"]);
    if (failed) throw new Error(`pushing ${repo}:${tag} failed: ${String(failed["error"])}`);
    const digest = events.map((event) => event["aux"]?.["Digest"]).find((value) => typeof value === "string");
    if (!digest) throw new Error(`pushing ${repo}:${tag} returned no digest`);
    return String(digest);
  }
}

function toService(info: Record<string, any>): ServiceInfo {
  const spec = (info["Spec"] ?? {}) as Dockerode.ServiceSpec;
  return {
    id: String(info["ID"]),
    name: String(spec.Name),
    version: Number(info["Version"]?.["Index"] ?? 0),
    spec,
    labels: (spec.Labels ?? {}) as Record<string, string>,
  };
}
