// A backup target on S3 or an S3-compatible server. The only module that imports the AWS SDK.
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { isIP } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { BackupTargetError } from "../../errors";
import type { OrphanJournal } from "./orphans";
import { describeMissingApi, unsupportedAnswer, type OptionalS3Api } from "./s3-optional";
import type { BackupTarget, PendingWrite, StoredObject, TargetEvents } from "./target";

/**
 * Memory for one upload is bounded by PART_BYTES × QUEUE_SIZE, whatever the backup's size. 16 MiB
 * parts, 3 in flight: measured against 8 × 4, a 78 MiB upload took 0.92 s instead of 1.07–1.33 s
 * (half the requests, each with its own overhead on the server), for 16 MiB more memory.
 */
const PART_BYTES = 16 * 1024 * 1024;
const QUEUE_SIZE = 3;
/** One of several uploads at once: S3's minimum part is 5 MiB. */
const SHARED_PART_BYTES = 8 * 1024 * 1024;
const SHARED_QUEUE_SIZE = 2;

export interface S3Options {
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
  /** Instead of the standard chain (prune's own credentials). */
  credentials?: S3ClientConfig["credentials"] | undefined;
}

/** Path-style addressing when the endpoint is an IP address or localhost (no virtual-host DNS there). */
export function needsPathStyle(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || isIP(host) !== 0;
}

export class S3Target implements BackupTarget {
  readonly url: string;
  private readonly client: S3Client;
  private readonly endpoint: string | undefined;
  private readonly region: string;
  /** Optional calls this server answered "not offered": warned about once, not asked again by this process. */
  private readonly missingApis = new Set<OptionalS3Api>();

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    options: S3Options,
    private readonly events: TargetEvents,
    private readonly orphans?: OrphanJournal,
  ) {
    this.url = `s3://${bucket}/${prefix}`;
    // PGFORT_S3_ENDPOINT first: a job container is told how it reaches the server (src/handoff/s3-access.ts).
    this.endpoint = process.env["PGFORT_S3_ENDPOINT"] ?? options.endpoint ?? process.env["AWS_ENDPOINT_URL_S3"] ?? process.env["AWS_ENDPOINT_URL"];
    this.region = options.region ?? process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1";
    this.client = new S3Client({
      // Credentials come from the standard chain (environment, profile, instance role), or from
      // the caller (prune's own, backups.prune.credentialsFile).
      ...(options.credentials ? { credentials: options.credentials } : {}),
      region: this.region,
      endpoint: this.endpoint,
      forcePathStyle: options.forcePathStyle ?? needsPathStyle(this.endpoint),
      maxAttempts: 3,
    });
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (cause) {
      throw this.failure(`cannot reach bucket ${this.bucket}${this.endpoint ? ` at ${this.endpoint}` : ""}`, cause);
    }
  }

  async write(key: string, options: { alongside?: number } = {}): Promise<PendingWrite> {
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    // Writes side by side (a parallel backup's workers) take smaller parts, fewer in flight: the
    // job's memory stays about one upload's, whatever its workers (measured: 2 workers at 16 MiB × 3
    // each peaked at 296 MiB, the issue's bound is 256).
    const shared = (options.alongside ?? 1) > 1;
    const partSize = shared ? SHARED_PART_BYTES : PART_BYTES;
    const queueSize = shared ? SHARED_QUEUE_SIZE : QUEUE_SIZE;
    // lib-storage aborts the multipart upload itself when a part fails (leavePartsOnError: false).
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.keyOf(key), Body: body },
      partSize,
      queueSize,
      leavePartsOnError: false,
    });
    const done = upload.done();
    let failure: BackupTargetError | undefined;
    // A failed upload must fail the pipeline feeding it, or that pipeline would wait forever.
    done.catch((cause: unknown) => {
      failure = this.failure(`upload of ${this.locate(key)} failed`, cause);
      body.destroy(failure);
    });
    return {
      stream: body,
      // The upload settles after the body stream broke (the SDK retries first): wait for it, bounded.
      failure: async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 60_000)))]);
        clearTimeout(timer);
        return failure;
      },
      commit: async () => {
        try {
          await done;
        } catch (cause) {
          throw this.failure(`upload of ${this.locate(key)} failed`, cause);
        }
      },
      abort: async () => {
        body.destroy();
        await upload.abort().catch(() => undefined);
        await done.catch(() => undefined);
        // It may have completed before the failure was known (the tool's exit code comes last).
        await this.remove([key]).catch(() => undefined);
        // lib-storage aborted the multipart upload if S3 answered; if it did not, remember the key.
        // (A server without multipart listing answers 0 here, after its one warning.)
        if ((await this.abortUploadsOf(key).catch(() => -1)) < 0) await this.orphans?.add(this.keyOf(key));
      },
    };
  }

  async writeText(key: string, text: string | Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Body: text, ContentType: typeof text === "string" ? "application/json" : "application/octet-stream" }));
    } catch (cause) {
      throw this.failure(`cannot write ${this.locate(key)}`, cause);
    }
  }

  async read(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      if (!(response.Body instanceof Readable)) throw new Error("the S3 response has no stream body");
      return response.Body;
    } catch (cause) {
      throw this.failure(`cannot read ${this.locate(key)}`, cause);
    }
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return await response.Body?.transformToString("utf8");
    } catch (cause) {
      if (cause instanceof NoSuchKey || (cause as { name?: string }).name === "NoSuchKey") return undefined;
      throw this.failure(`cannot read ${this.locate(key)}`, cause);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyOf(prefix), ContinuationToken: token }),
        );
        for (const item of page.Contents ?? []) {
          if (!item.Key) continue;
          objects.push({ key: item.Key.slice(this.rootPrefix().length), bytes: item.Size ?? 0, modifiedAt: item.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (cause) {
      throw this.failure(`cannot list ${this.url}`, cause);
    }
    return objects;
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000).map((key) => ({ Key: this.keyOf(key) }));
      try {
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      } catch (cause) {
        throw this.failure(`cannot delete from ${this.url}`, cause);
      }
    }
  }

  locate(key: string): string {
    return `s3://${this.bucket}/${this.keyOf(key)}`;
  }

  /** Aborts every multipart upload of `key`; how many (0 from a server that cannot list them). */
  private async abortUploadsOf(key: string): Promise<number> {
    return (await this.abortUploads(this.keyOf(key), (upload) => upload.Key === this.keyOf(key))) ?? 0;
  }

  async abortStaleUploads(before: Date): Promise<number> {
    let aborted = 0;
    for (const key of (await this.orphans?.keys()) ?? []) {
      const count = await this.abortUploads(key, (upload) => upload.Key === key);
      // Without a listing the upload may still be there: keep the key for when the server (or the policy) allows it.
      if (count !== undefined) await this.orphans?.remove(key);
      aborted += count ?? 0;
    }
    return aborted + ((await this.abortUploads(this.rootPrefix(), (upload) => Boolean(upload.Initiated && upload.Initiated < before))) ?? 0);
  }

  /** Aborts the selected uploads under `prefix`; how many, or undefined when this server cannot list them. */
  private async abortUploads(prefix: string, select: (upload: { Key?: string; Initiated?: Date }) => boolean): Promise<number | undefined> {
    if (this.missingApis.has("ListMultipartUploads")) return undefined;
    let uploads;
    try {
      uploads = (await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }))).Uploads ?? [];
    } catch (cause) {
      if (this.toleratedMissing("ListMultipartUploads", cause)) return undefined;
      throw this.failure(`cannot list multipart uploads in ${this.url}`, cause);
    }
    let aborted = 0;
    for (const upload of uploads) {
      if (!upload.Key || !upload.UploadId || !select(upload) || this.missingApis.has("AbortMultipartUpload")) continue;
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
        aborted += 1;
      } catch (cause) {
        if (this.toleratedMissing("AbortMultipartUpload", cause)) continue;
        throw this.failure(`cannot abort the multipart upload of s3://${this.bucket}/${upload.Key}`, cause);
      }
    }
    return aborted;
  }

  /** True (after one warning per call per process) when `cause` says this server does not offer the optional `api`. */
  private toleratedMissing(api: OptionalS3Api, cause: unknown): boolean {
    const answer = unsupportedAnswer(cause);
    if (!answer) return false;
    if (!this.missingApis.has(api)) {
      this.missingApis.add(api);
      this.events.onWarning(describeMissingApi(api, answer, `the S3 server ${this.describeEndpoint()} (bucket ${this.bucket})`));
    }
    return true;
  }

  private describeEndpoint(): string {
    return this.endpoint ?? `of AWS in ${this.region}`;
  }

  private rootPrefix(): string {
    return this.prefix ? `${this.prefix.replace(/\/+$/, "")}/` : "";
  }

  private keyOf(key: string): string {
    return `${this.rootPrefix()}${key}`;
  }

  /** A failed required call: what, where (bucket and endpoint), and what to check for this kind of answer. */
  private failure(message: string, cause: unknown): BackupTargetError {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const endpoint = this.describeEndpoint();
    const where = message.includes(endpoint) ? "" : `; S3 server ${endpoint}`;
    return new BackupTargetError(`${message} (${detail}${where})`, this.hintFor(detail, unsupportedAnswer(cause)?.code), { cause });
  }

  private hintFor(detail: string, unsupportedCode: string | undefined): string {
    if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up|ECONNRESET/.test(detail)) {
      return "the S3 endpoint does not answer: check AWS_ENDPOINT_URL_S3 / backups.s3.endpoint and that the server is up";
    }
    if (unsupportedCode === "AccessDenied") {
      return `these credentials may not use bucket ${this.bucket}: backups need s3:PutObject, s3:GetObject, s3:ListBucket and s3:DeleteObject on it (check the bucket policy, AWS_ACCESS_KEY_ID, AWS_PROFILE)`;
    }
    if (unsupportedCode !== undefined) {
      return `the server ${this.describeEndpoint()} does not implement a call backups need (PutObject, multipart upload, ListObjectsV2, GetObject, DeleteObjects): use a server that does, or a file:// target`;
    }
    return "check the bucket, the prefix and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)";
  }
}
