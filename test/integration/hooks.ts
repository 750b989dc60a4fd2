// mocha --require: one Docker connection, the image built once per run and shared by every test
// file, and cleanup by label after each test, failures included. Cleanup calls dockerode directly,
// never the code under test.
import Dockerode from "dockerode";
import { ensureAgentImage } from "../../src/image/agent-build";
import { buildImage } from "../../src/image/build";
import { planImageBuild } from "../../src/image/plan";
import { DockerClient } from "../../src/docker/client";
import { parseConfig } from "../../src/config/load";
import { VERSION } from "../../src/version";
import { clustersInThisTest, clustersOfThisRun } from "./clusters";
import { removeWorkspaces } from "./workspace";
import { stopS3Servers } from "./s3";
import { IMAGE, TEST_PG_MAJOR } from "./postgres";

const docker = new Dockerode();
// The AWS SDK warns under Node 20 that its future versions need Node 22; the test S3 clients use it too.
process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] = "true";

export const mochaHooks: Mocha.RootHookObject = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(20 * 60_000);
    // No skipping: without an engine the integration suite fails, and says how to get one.
    let client: DockerClient;
    try {
      client = await DockerClient.connect();
    } catch (error) {
      throw new Error(
        "integration tests need a running Docker engine and none answers: run `bash scripts/setup-docker.sh` " +
          "(npm test runs it first), or set DOCKER_HOST",
        { cause: error },
      );
    }
    const image = { ...parseConfig(`image: { pgMajor: ${TEST_PG_MAJOR} }`).image, tag: IMAGE };
    await buildImage(client, planImageBuild(image, { noCache: false }, VERSION));
    // And the agent image on it (jobs and the agent run in it), so no test pays for its build.
    await ensureAgentImage(client, image);
  },
  async afterEach(this: Mocha.Context) {
    this.timeout(120_000);
    for (const cluster of clustersInThisTest) await removeLabelled({ label: [`pgfort.cluster=${cluster}`] });
    clustersInThisTest.clear();
    await removeWorkspaces();
    await stopS3Servers();
  },
  async afterAll() {
    // Containers, volumes and networks alike: a test that leaves any of them fails the run.
    const leftovers: string[] = [];
    for (const cluster of clustersOfThisRun) {
      const filters = { label: [`pgfort.cluster=${cluster}`] };
      const [containers, volumes, networks] = await Promise.all([
        docker.listContainers({ all: true, filters }),
        docker.listVolumes({ filters }),
        docker.listNetworks({ filters }),
      ]);
      leftovers.push(
        ...containers.map((container) => `container ${container.Names[0] ?? container.Id}`),
        ...(volumes.Volumes ?? []).map((volume) => `volume ${volume.Name}`),
        ...networks.map((network) => `network ${network.Name}`),
      );
    }
    if (leftovers.length > 0) throw new Error(`tests left Docker objects behind: ${leftovers.join(", ")}`);
  },
};

export async function removeLabelled(filters: { label: string[] }): Promise<void> {
  for (const { Id } of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(Id).remove({ force: true, v: true }); // first: containers hold volumes and networks
  }
  for (const { Name } of (await docker.listVolumes({ filters })).Volumes ?? []) await docker.getVolume(Name).remove();
  for (const { Id } of await docker.listNetworks({ filters })) await docker.getNetwork(Id).remove();
}
