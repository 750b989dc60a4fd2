import path from "node:path";
import type { LoadedConfig } from "../../config/load";
import { ConfigError } from "../../errors";
import { FileTarget } from "./file";
import { OrphanJournal } from "./orphans";
import type { S3Target } from "./s3";
import type { BackupTarget, TargetEvents } from "./target";

export interface OpenOptions {
  /** S3 only: an AWS shared-credentials file (and its profile) instead of the standard chain. */
  credentialsFile?: { path: string; profile: string } | undefined;
}

/** file://PATH (relative to the config file's directory) or s3://bucket[/prefix]. */
export function openTarget(url: string, loaded: LoadedConfig, events: TargetEvents, options: OpenOptions = {}): BackupTarget {
  if (url.startsWith("file://")) {
    const location = url.slice("file://".length);
    if (!location) throw new ConfigError(`backup target ${url} has no path`, "use file://./backups or file:///var/backups/pg");
    return new FileTarget(path.resolve(loaded.baseDir, location));
  }
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (match) {
    const credentials = options.credentialsFile ? loadIniCredentials(options.credentialsFile) : undefined;
    return new (loadS3Target())(match[1] ?? "", match[2] ?? "", { ...loaded.config.backups.s3, credentials }, events, new OrphanJournal(path.join(loaded.stateDir, "s3-orphaned-uploads.json")));
  }
  throw new ConfigError(`backup target ${url} is not file://PATH or s3://bucket/prefix`, "fix backups.target or --target");
}

/**
 * The AWS SDK takes ~0.3 s to load: a fixed cost of every command and every job container, paid
 * only where a target is on S3 (measured in the agent image: 0.50 s vs 0.25 s for `pgfort job`'s modules).
 */
function loadS3Target(): typeof S3Target {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("./s3") as typeof import("./s3")).S3Target;
}

/** The SDK's own reader of a shared-credentials file (loaded with the S3 code, only when used). */
function loadIniCredentials(file: { path: string; profile: string }) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { fromIni } = require("@aws-sdk/credential-provider-ini") as typeof import("@aws-sdk/credential-provider-ini");
  // No config file: only the credentials file counts, whatever ~/.aws/config of the process says.
  return fromIni({ filepath: file.path, configFilepath: file.path, profile: file.profile, ignoreCache: true });
}
