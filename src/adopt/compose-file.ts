// `pgfort adopt`: the user's compose file, read and changed so its applications use the pgfort
// cluster instead of the official-image service they used. Only the lines that must change do: the
// old service is kept but put in a profile (not started by `up` any more, started again by
// `--profile pgfort-adopted`), services that waited for it or named it as a host name the pgfort
// primary instead and join the cluster's network. Comments and the rest of the file stay. Pure.
import YAML, { isMap, isScalar, isSeq, YAMLMap, YAMLSeq, type Document } from "yaml";
import { ConfigError } from "../errors";

/** The profile the adopted service is moved to: `docker compose --profile pgfort-adopted up -d SERVICE` starts it again. */
export const ADOPTED_PROFILE = "pgfort-adopted";
/** The key of the cluster's network in the user's file. */
export const PGFORT_NETWORK_KEY = "pgfort";

export interface ComposeService {
  name: string;
  image: string;
  containerName: string | undefined;
  /** Named volumes and binds mounted at the official image's PGDATA, as written. */
  dataVolume: string | undefined;
}

export interface AdoptTarget {
  /** The host name applications use now: the pgfort primary's container name. */
  host: string;
  /** The cluster's network (`<cluster>-net`), joined as an external network. */
  network: string;
}

export interface ComposeEdit {
  text: string;
  /** The changed lines, `-` old and `+` new, with a line of context around each change. */
  diff: string[];
  /** Services whose lines changed, beside the adopted one. */
  changedServices: string[];
}

/** The official image: `postgres`, `postgres:15`, `library/postgres:16-alpine`, `docker.io/library/postgres@sha256:…`. */
export function isOfficialPostgres(image: string): boolean {
  return /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?(?:library\/)?postgres(?:[:@].*)?$/.test(image);
}

function parse(text: string, file: string): Document.Parsed {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigError(`${file} is not valid YAML: ${doc.errors[0]?.message ?? ""}`, "fix the file (docker compose config shows where), then run pgfort adopt again");
  return doc;
}

function servicesOf(doc: Document.Parsed, file: string): YAMLMap {
  const services = doc.get("services");
  if (!isMap(services)) throw new ConfigError(`${file} has no services:`, "point --compose at the compose file that defines the PostgreSQL service");
  return services;
}

/** The service NAME of the file: an official-image PostgreSQL, or a ConfigError that says what it is. */
export function readComposeService(text: string, file: string, name: string): ComposeService {
  const services = servicesOf(parse(text, file), file);
  const service = services.get(name);
  if (!isMap(service)) {
    const names = services.items.map((pair) => String(isScalar(pair.key) ? pair.key.value : pair.key));
    throw new ConfigError(`${file} has no service ${name}`, `its services: ${names.join(", ")}`);
  }
  const image = String(service.get("image") ?? "");
  if (!isOfficialPostgres(image)) {
    throw new ConfigError(`service ${name} runs ${image || "a built image"}, not the official postgres image`, "pgfort adopt takes a service with image: postgres:<version>; move other servers with pgfort restore from a pg_dump");
  }
  const volumes = service.get("volumes");
  let dataVolume: string | undefined;
  if (isSeq(volumes)) {
    for (const item of volumes.items) {
      const value = isScalar(item) ? String(item.value) : isMap(item) ? `${String(item.get("source") ?? "")}:${String(item.get("target") ?? "")}` : "";
      const [source, target] = value.split(":");
      if (target?.startsWith("/var/lib/postgresql")) dataVolume = source;
    }
  }
  const containerName = service.get("container_name");
  return { name, image, containerName: containerName === undefined ? undefined : String(containerName), dataVolume };
}

/** Replaces the service's name where it is used as a host: in URLs (`@db:`, `//db/`), conninfo (`host=db`), and whole values of *HOST* keys. */
export function replaceHost(key: string, value: string, service: string, host: string): string {
  const name = service.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  let result = value.replace(new RegExp(`(@|//|\\bhost=)${name}(?=$|[:/?,\\s])`, "g"), `$1${host}`);
  if (/host/i.test(key) && result === service) result = host;
  return result;
}

/** The file with the adopted service kept aside and its users pointed at the pgfort primary. */
export function planComposeEdit(text: string, file: string, serviceName: string, target: AdoptTarget): ComposeEdit {
  const doc = parse(text, file);
  const services = servicesOf(doc, file);
  const adopted = services.get(serviceName);
  if (!isMap(adopted)) throw new ConfigError(`${file} has no service ${serviceName}`, "name the PostgreSQL service with --service");
  adopted.set("profiles", doc.createNode([ADOPTED_PROFILE], { flow: true }));
  const changedServices: string[] = [];
  for (const pair of services.items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const service = pair.value;
    if (name === serviceName || !isMap(service)) continue;
    const changed = [dropDependency(service, "depends_on", serviceName), dropDependency(service, "links", serviceName), pointEnvironment(service, serviceName, target.host)].some(Boolean);
    if (!changed) continue;
    joinNetwork(doc, service);
    changedServices.push(name);
  }
  let networks = doc.get("networks");
  if (!isMap(networks)) {
    networks = new YAMLMap();
    doc.set("networks", networks);
  }
  (networks as YAMLMap).set(PGFORT_NETWORK_KEY, doc.createNode({ external: true, name: target.network }));
  const indent = detectIndent(text);
  const edited = keepOriginalLines(text, doc.toString({ indent: indent.width, indentSeq: indent.sequences, lineWidth: 0, flowCollectionPadding: false }));
  return { text: edited, diff: lineDiff(text, edited), changedServices };
}

/** Removes SERVICE from a list (`- db`, `- db:alias`) or map (`db: {condition: …}`); true when it was there. */
function dropDependency(service: YAMLMap, key: string, serviceName: string): boolean {
  const node = service.get(key);
  let dropped = false;
  if (isSeq(node)) {
    const before = node.items.length;
    node.items = node.items.filter((item) => !(isScalar(item) && String(item.value).split(":")[0] === serviceName));
    dropped = node.items.length !== before;
    if (dropped && node.items.length === 0) service.delete(key);
  } else if (isMap(node) && node.has(serviceName)) {
    node.delete(serviceName);
    dropped = true;
    if (node.items.length === 0) service.delete(key);
  }
  return dropped;
}

function pointEnvironment(service: YAMLMap, serviceName: string, host: string): boolean {
  const environment = service.get("environment");
  let changed = false;
  if (isMap(environment)) {
    for (const pair of environment.items) {
      if (!isScalar(pair.value) || typeof pair.value.value !== "string") continue;
      const next = replaceHost(String(isScalar(pair.key) ? pair.key.value : pair.key), pair.value.value, serviceName, host);
      if (next !== pair.value.value) {
        pair.value.value = next;
        changed = true;
      }
    }
  } else if (isSeq(environment)) {
    for (const item of environment.items) {
      if (!isScalar(item) || typeof item.value !== "string") continue;
      const [key = "", ...rest] = item.value.split("=");
      if (rest.length === 0) continue;
      const next = `${key}=${replaceHost(key, rest.join("="), serviceName, host)}`;
      if (next !== item.value) {
        item.value = next;
        changed = true;
      }
    }
  }
  return changed;
}

/** The service joins the cluster's network, keeping the networks it had (Compose's `default` when it named none). */
function joinNetwork(doc: Document.Parsed, service: YAMLMap): void {
  const networks = service.get("networks");
  if (isSeq(networks)) {
    if (!networks.items.some((item) => isScalar(item) && item.value === PGFORT_NETWORK_KEY)) networks.add(doc.createNode(PGFORT_NETWORK_KEY));
  } else if (isMap(networks)) {
    if (!networks.has(PGFORT_NETWORK_KEY)) networks.set(PGFORT_NETWORK_KEY, null);
  } else {
    service.set("networks", doc.createNode(["default", PGFORT_NETWORK_KEY]) as YAMLSeq);
  }
}

/** The YAML writer puts one space before a trailing comment and none inside flow brackets: a line otherwise unchanged is written as the user wrote it. */
function keepOriginalLines(before: string, after: string): string {
  const normalize = (line: string) =>
    line
      .replace(/\s+#/, " #")
      .replace(/([[{])\s+/g, "$1")
      .replace(/\s+([\]}])/g, "$1")
      .trimEnd();
  const originals = new Map(before.split("\n").map((line) => [normalize(line), line]));
  return after
    .split("\n")
    .map((line) => originals.get(normalize(line)) ?? line)
    .join("\n");
}

/** The file's own indentation, so only changed lines differ: width of the first indented line, and whether lists are indented under their key. */
export function detectIndent(text: string): { width: number; sequences: boolean } {
  const lines = text.split("\n");
  const first = lines.find((line) => /^ +\S/.test(line) && !/^\s*#/.test(line));
  const width = first ? first.length - first.trimStart().length : 2;
  let sequences = true;
  for (let index = 1; index < lines.length; index++) {
    const item = /^( *)- /.exec(lines[index] ?? "");
    const parent = /^( *)[^\s#-][^:]*:\s*$/.exec(lines[index - 1] ?? "");
    if (item && parent) {
      sequences = (item[1]?.length ?? 0) > (parent[1]?.length ?? 0);
      break;
    }
  }
  return { width, sequences };
}

/** A line diff (longest common subsequence): `  ` kept, `- ` removed, `+ ` added; kept lines only next to a change. */
export function lineDiff(before: string, after: string): string[] {
  const a = before.replace(/\n$/, "").split("\n");
  const b = after.replace(/\n$/, "").split("\n");
  const lengths = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i]![j] = a[i] === b[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  const all: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      all.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lengths[i + 1]![j]! >= lengths[i]![j + 1]!)) {
      all.push(`- ${a[i]}`);
      i++;
    } else {
      all.push(`+ ${b[j]}`);
      j++;
    }
  }
  const changed = (line: string | undefined) => line !== undefined && !line.startsWith("  ");
  return all.filter((line, index) => changed(line) || changed(all[index - 1]) || changed(all[index + 1]));
}
