// A bench-only image layer: the cluster image plus Debian's pgbackrest, the peer users pick today.
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import type { DockerClient } from "../src/docker/client";

export async function buildPeerImage(docker: DockerClient, base: string, tag: string): Promise<void> {
  const archive = pack();
  archive.entry(
    { name: "Dockerfile" },
    [
      `FROM ${base}`,
      "USER 0:0",
      "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbackrest && rm -rf /var/lib/apt/lists/*",
      "USER 999:999",
    ].join("\n"),
  );
  archive.finalize();
  const stream = await docker.buildImage(Readable.from(archive), { t: tag, rm: true, forcerm: true });
  await docker.followBuild(stream, () => undefined);
}
