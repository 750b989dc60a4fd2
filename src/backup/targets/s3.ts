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
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { isIP } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { BackupTargetError } from "../../errors";
import type { OrphanJournal } from "./orphans";
import type { BackupTarget, PendingWrite, StoredObject } from "./target";

/** Memory for one upload is bounded by PART_BYTES × QUEUE_SIZE, whatever the backup's size. */
const PART_BYTES = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;

export interface S3Options {
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
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

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    options: S3Options,
    private readonly orphans?: OrphanJournal,
  ) {
    this.url = `s3://${bucket}/${prefix}`;
    this.endpoint = options.endpoint ?? process.env["AWS_ENDPOINT_URL_S3"] ?? process.env["AWS_ENDPOINT_URL"];
    this.client = new S3Client({
      // Credentials come from the standard chain (environment, profile, instance role).
      region: options.region ?? process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1",
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

  async write(key: string): Promise<PendingWrite> {
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    // lib-storage aborts the multipart upload itself when a part fails (leavePartsOnError: false).
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.keyOf(key), Body: body },
      partSize: PART_BYTES,
      queueSize: QUEUE_SIZE,
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
        if ((await this.abortUploadsOf(key).catch(() => -1)) < 0) await this.orphans?.add(this.keyOf(key));
      },
    };
  }

  async writeText(key: string, text: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Body: text, ContentType: "application/json" }));
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

  /** Aborts every multipart upload of `key`; how many. */
  private async abortUploadsOf(key: string): Promise<number> {
    return this.abortUploads(this.keyOf(key), (upload) => upload.Key === this.keyOf(key));
  }

  async abortStaleUploads(before: Date): Promise<number> {
    let aborted = 0;
    for (const key of (await this.orphans?.keys()) ?? []) {
      aborted += await this.abortUploads(key, (upload) => upload.Key === key);
      await this.orphans?.remove(key);
    }
    return aborted + (await this.abortUploads(this.rootPrefix(), (upload) => Boolean(upload.Initiated && upload.Initiated < before)));
  }

  private async abortUploads(prefix: string, select: (upload: { Key?: string; Initiated?: Date }) => boolean): Promise<number> {
    let aborted = 0;
    try {
      const { Uploads = [] } = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
      for (const upload of Uploads) {
        if (!upload.Key || !upload.UploadId || !select(upload)) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
        aborted += 1;
      }
    } catch (cause) {
      throw this.failure(`cannot list or abort multipart uploads in ${this.url}`, cause);
    }
    return aborted;
  }

  private rootPrefix(): string {
    return this.prefix ? `${this.prefix.replace(/\/+$/, "")}/` : "";
  }

  private keyOf(key: string): string {
    return `${this.rootPrefix()}${key}`;
  }

  private failure(message: string, cause: unknown): BackupTargetError {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const unreachable = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up|ECONNRESET/.test(detail);
    return new BackupTargetError(
      `${message} (${detail})`,
      unreachable
        ? "the S3 endpoint does not answer: check AWS_ENDPOINT_URL_S3 / backups.s3.endpoint and that the server is up"
        : "check the bucket, the prefix and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)",
      { cause },
    );
  }
}
