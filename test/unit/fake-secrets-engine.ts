// The engine as the secrets volume's sync sees it (src/cluster/secrets-volume.ts SecretsEngine):
// containers and volumes in maps, every archive copied into the volume remembered. Shared by the
// unit tests of the secrets volume and of the agent's config files.
import type { ContainerCreateOptions } from "../../src/docker/client";
import type { SecretsEngine } from "../../src/cluster/secrets-volume";

export class FakeSecretsEngine implements SecretsEngine {
  containers = new Map<string, ContainerCreateOptions>();
  volumes = new Set<string>();
  copies: Array<{ name: string; directory: string; archive: Buffer }> = [];
  async inspectContainerIfExists(name: string) {
    const options = this.containers.get(name);
    return options ? { Config: { Labels: options.Labels ?? {} } } : undefined;
  }
  async volumeExists(name: string) {
    return this.volumes.has(name);
  }
  async ensureVolume(name: string) {
    const created = !this.volumes.has(name);
    this.volumes.add(name);
    return created;
  }
  async createContainer(options: ContainerCreateOptions) {
    this.containers.set(options.name ?? "", options);
  }
  async putArchive(name: string, directory: string, archive: Buffer) {
    this.copies.push({ name, directory, archive });
  }
  async removeContainer(name: string) {
    this.containers.delete(name);
  }
}
