/** Every failure a user can act on: what failed (message) and what to do (hint). */
export abstract class PgfortError extends Error {
  /** Stable: printed by --json and mapped to the exit code. */
  abstract readonly code: string;
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The config file or a command-line option is wrong. */
export class ConfigError extends PgfortError {
  readonly code = "CONFIG_INVALID";
  override readonly exitCode = 2;
}

export class DockerUnavailableError extends PgfortError {
  readonly code = "DOCKER_UNAVAILABLE";
}

/** `docker build` failed: a step exited non-zero, or the base image is missing. */
export class ImageBuildError extends PgfortError {
  readonly code = "IMAGE_BUILD_FAILED";
}

/** A container did not start, did not become healthy, or a command in it failed. */
export class ContainerError extends PgfortError {
  readonly code = "CONTAINER_FAILED";
}

/** Postgres refused a setting, a connection or a statement. */
export class PostgresError extends PgfortError {
  readonly code = "POSTGRES_FAILED";
}

/** A backup target (local directory or S3) cannot be read or written. */
export class BackupTargetError extends PgfortError {
  readonly code = "BACKUP_TARGET_FAILED";
}

/** A backup, restore or verify run failed. */
export class BackupError extends PgfortError {
  readonly code = "BACKUP_FAILED";
}

/** Something named does not exist (a backup id, a replica). */
export class NotFoundError extends PgfortError {
  readonly code = "NOT_FOUND";
}

/** A destructive command was not confirmed. */
export class NotConfirmedError extends PgfortError {
  readonly code = "NOT_CONFIRMED";
}

/** The command was interrupted (SIGINT/SIGTERM) and cleaned up what it had started. */
export class InterruptedError extends PgfortError {
  readonly code = "INTERRUPTED";
  override readonly exitCode: number;
  constructor(
    readonly signal: "SIGINT" | "SIGTERM",
    options?: ErrorOptions,
  ) {
    super(`interrupted by ${signal}`, "nothing of this run was kept; run the command again", options);
    // The shell's convention: 128 + the signal's number.
    this.exitCode = signal === "SIGINT" ? 130 : 143;
  }
}

/** A state file under .pgfort/ is unreadable or not of its schema, and no safe default exists. */
export class StateFileError extends PgfortError {
  readonly code = "STATE_FILE_INVALID";
}

/** A restore drill stopped before it reached a verdict (engine gone, container died, a bug): no verdict is recorded. */
export class DrillError extends PgfortError {
  readonly code = "VERIFY_DRILL_ERROR";
  override readonly exitCode = 3;
}

/** The Docker socket refuses this user: not root and not in the `docker` group. */
export class DockerPermissionError extends PgfortError {
  readonly code = "DOCKER_PERMISSION_DENIED";
}

/** A Docker object of that name exists already (and is not one pgfort can reuse). */
export class NameConflictError extends PgfortError {
  readonly code = "NAME_CONFLICT";
}

/** A host port in the config is taken by another process or container. */
export class PortInUseError extends PgfortError {
  readonly code = "PORT_IN_USE";
}

/** The engine's disk (or a volume's) is full. */
export class NoSpaceError extends PgfortError {
  readonly code = "NO_SPACE";
}

/** The image a container needs is not on this host. */
export class ImageMissingError extends PgfortError {
  readonly code = "IMAGE_MISSING";
}

/** The engine refused a request for a reason none of the classes above names; its message says why. */
export class DockerEngineError extends PgfortError {
  readonly code = "DOCKER_FAILED";
}

/** WAL archiving or its archive (src/wal/) cannot do what was asked: a conflict, a gap, a missing file. */
export class WalArchiveError extends PgfortError {
  readonly code = "WAL_ARCHIVE_FAILED";
}

/** An encrypted backup or WAL file cannot be decrypted: the identity is wrong or missing (nothing is wrong with the backup). */
export class DecryptionError extends PgfortError {
  readonly code = "DECRYPTION_FAILED";
}

/** `pgfort upgrade` refused (a pre-check) or failed; the old major keeps running or comes back. */
export class UpgradeError extends PgfortError {
  readonly code = "UPGRADE_FAILED";
}

/** A data directory would run under other collation rules than its text indexes were built with. */
export class CollationMismatchError extends PgfortError {
  readonly code = "COLLATION_MISMATCH";
}

/** A certificate, key or CA that cannot serve TLS: missing, unreadable, expired, or not matching. */
export class TlsError extends PgfortError {
  readonly code = "TLS";
}

/** `pgfort adopt` could not move a Compose service's data into the cluster, or the moved data differs. */
export class AdoptError extends PgfortError {
  readonly code = "ADOPT";
}

/** A Swarm deployment cannot go on: no manager, a node the config names is not in the swarm, a task that does not run. */
export class SwarmError extends PgfortError {
  readonly code = "SWARM";
}
