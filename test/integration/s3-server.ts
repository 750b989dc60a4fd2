// s3rver as published, in its own process: a third-party S3 server with no routes added, so the
// tests meet what users meet (it lacks ListMultipartUploads and AbortMultipartUpload). One change
// makes it keep S3's contract: a PUT is atomic. s3rver writes the object in place and answers
// before the file is flushed, so a server killed mid-write (the outage tests) listed half an
// object under its key; S3, MinIO and the rest never show an object before it is whole.
// Usage: node s3-server.js PORT DIRECTORY BUCKET [REQUEST_LOG]; prints "ready PORT". Used by the
// tests and the bench. With REQUEST_LOG, every request is appended to that file as a JSON line
// {method, path, query, existed, accessKey} before s3rver handles it (`existed`: the object was
// stored already), so a test can count DeleteObject calls and writes over existing keys.
// Besides s3rver's own key pair (S3RVER/S3RVER) a second one, NODELETE/NODELETE, may do
// everything but delete: its DeleteObject(s) calls get AccessDenied, as a bucket policy without
// s3:DeleteObject would answer.

import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, createWriteStream, existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

// s3rver has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => {
  run(): Promise<{ port: number }>;
  middleware: Array<(ctx: RequestContext, next: () => Promise<void>) => Promise<void>>;
};

interface RequestContext {
  method: string;
  path: string;
  querystring: string;
  get(header: string): string;
  status: number;
  body: unknown;
  type: string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DUMMY_ACCOUNT } = require("s3rver/lib/models/account") as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
const NO_DELETE_KEY = "NODELETE";

interface StoredObjectInput {
  bucket: string;
  key: string;
  content: Buffer | NodeJS.ReadableStream;
  metadata: Record<string, string>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const FilesystemStore = require("s3rver/lib/stores/filesystem") as {
  prototype: {
    getResourcePath(bucket: string, key: string, resource: string): string;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
    putObject(object: StoredObjectInput): Promise<{ size: number; md5: string }>;
  };
};

/** The body to a temporary file, flushed and closed, then renamed over the key: whole or not at all. */
FilesystemStore.prototype.putObject = async function (object: StoredObjectInput) {
  const objectPath = this.getResourcePath(object.bucket, object.key, "object");
  await mkdir(path.dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${randomBytes(6).toString("hex")}.partial`;
  const md5 = createHash("md5");
  let size = 0;
  const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  try {
    await pipeline(
      body,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      createWriteStream(temporary),
    );
    const digest = md5.digest("hex");
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    await rename(temporary, objectPath);
    return { size, md5: digest };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
};

async function main(): Promise<void> {
  const [port = "0", directory = "", bucket = "pgfort-test", requestLog] = process.argv.slice(2);
  // Every address: job containers reach it through their network's gateway (src/handoff/s3-access.ts).
  const server = new S3rver({ port: Number(port), address: "0.0.0.0", directory, silent: true, configureBuckets: [{ name: bucket }] });
  DUMMY_ACCOUNT.createKeyPair(NO_DELETE_KEY, NO_DELETE_KEY);
  // First in the chain: it sees every request as it arrives.
  server.middleware.unshift(async (ctx, next) => {
    const accessKey = /Credential=([^/]+)\//.exec(ctx.get("authorization"))?.[1] ?? null;
    const deletes = ctx.method === "DELETE" || (ctx.method === "POST" && /(^|&)delete(=|&|$)/.test(ctx.querystring));
    if (requestLog) {
      // s3rver's file store: <directory>/<bucket>/<key>._S3rver_object (keys are path-style here).
      const key = decodeURIComponent(ctx.path.replace(/^\/[^/]+\/?/, ""));
      const existed = key !== "" && existsSync(path.join(directory, bucket, `${key}._S3rver_object`));
      appendFileSync(requestLog, `${JSON.stringify({ method: ctx.method, path: ctx.path, query: ctx.querystring, existed, accessKey })}\n`);
    }
    if (deletes && accessKey === NO_DELETE_KEY) {
      ctx.status = 403;
      ctx.type = "application/xml";
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
      return;
    }
    await next();
  });
  const { port: actual } = await server.run();
  process.stdout.write(`ready ${actual}\n`);
}

void main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
