// One interface for where backups go: a local directory or S3.
import type { Readable, Writable } from "node:stream";

/** A file being written: nothing is visible under `key` until commit(); abort() leaves nothing. */
export interface PendingWrite {
  stream: Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** After a failed stream: why the target side failed, if it did (the stream error may only say "aborted"). */
  failure(): Promise<Error | undefined>;
}

export interface StoredObject {
  key: string;
  bytes: number;
  modifiedAt: Date;
}

/** How a target tells its user about what it does without (an S3 server lacking an optional call). */
export interface TargetEvents {
  /** One line, said once per cause; the CLI prints it as `warning: …`. */
  onWarning(message: string): void;
}

export interface BackupTarget {
  /** The target as the user wrote it (file:///abs/path or s3://bucket/prefix). */
  readonly url: string;
  /** Fails early with a BackupTargetError when the target cannot be written. */
  check(): Promise<void>;
  /** `alongside`: how many writes run at once with this one (a parallel backup's workers): S3 shares its part buffers among them. */
  write(key: string, options?: { alongside?: number }): Promise<PendingWrite>;
  /** Small files (manifest, verify, a WAL file): written whole and atomically, in one request. */
  writeText(key: string, text: string | Buffer): Promise<void>;
  read(key: string): Promise<Readable>;
  readText(key: string): Promise<string | undefined>;
  list(prefix: string): Promise<StoredObject[]>;
  remove(keys: readonly string[]): Promise<void>;
  /** Where a key is, for people (a path or an s3:// URL). */
  locate(key: string): string;
  /**
   * Aborts multipart uploads started before `before`; returns how many. No-op where there are none, and
   * a warning (onWarning), not an error, where the server does not offer listing or aborting them.
   */
  abortStaleUploads(before: Date): Promise<number>;
}
