// A temporary directory with a pgfort.yaml for one cluster, as a user would have.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { runCli, type CliResult } from "./cli";
import { uniqueClusterName } from "./clusters";
import { IMAGE, TEST_PG_MAJOR } from "./postgres";

export class Workspace {
  private constructor(
    readonly directory: string,
    readonly cluster: string,
  ) {}

  static async create(yaml: (cluster: string) => string): Promise<Workspace> {
    const workspace = new Workspace(await mkdtemp(path.join(os.tmpdir(), "pgfort-ws-")), uniqueClusterName());
    await workspace.writeConfig(yaml(workspace.cluster));
    workspaces.add(workspace);
    return workspace;
  }

  /**
   * Writes pgfort.yaml; a config that names no image gets the image under test, and one that
   * names no agent port a free one (every cluster's agent publishes its port: 9187 for all would
   * collide between tests and checkouts).
   */
  async writeConfig(yaml: string): Promise<void> {
    let text = yaml.endsWith("\n") || yaml === "" ? yaml : `${yaml}\n`;
    if (!/^image:/m.test(text)) text += `image: { tag: "${IMAGE}", pgMajor: ${TEST_PG_MAJOR} }\n`;
    if (!/^agent:/m.test(text)) text += `agent: { port: ${this.agentPort ??= await freePort()} }\n`;
    await writeFile(path.join(this.directory, "pgfort.yaml"), text);
  }

  /** The agent port writeConfig chose, kept across rewrites of the config. */
  agentPort: number | undefined;

  run(...args: string[]): Promise<CliResult> {
    return runCli(args, { cwd: this.directory });
  }

  /** run(), failing the test with the output when the command does not exit 0. */
  async ok(...args: string[]): Promise<CliResult> {
    const result = await this.run(...args);
    if (result.code !== 0) throw new Error(`pgfort ${args.join(" ")} exited ${result.code}:\n${result.stderr}\n${result.stdout}`);
    return result;
  }

  path(...parts: string[]): string {
    return path.join(this.directory, ...parts);
  }

  read(...parts: string[]): Promise<string> {
    return readFile(this.path(...parts), "utf8");
  }
}

const workspaces = new Set<Workspace>();

export async function removeWorkspaces(): Promise<void> {
  for (const workspace of workspaces) await rm(workspace.directory, { recursive: true, force: true });
  workspaces.clear();
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
