// A real S3 protocol server for the tests, in its own process: s3rver, plus the two calls it
// lacks and pgfort needs (ListMultipartUploads, AbortMultipartUpload), served from s3rver's own
// upload directories. Usage: node s3-server.js PORT DIRECTORY BUCKET; prints "ready PORT".
import { readFile, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";

// s3rver has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => S3rverApp;

interface S3rverApp {
  middleware: Array<(context: KoaContext, next: () => Promise<void>) => Promise<void>>;
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
  run(): Promise<{ port: number }>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  status: number;
  body: unknown;
}

async function main(): Promise<void> {
  const [port = "0", directory = "", bucket = "pgfort-test"] = process.argv.slice(2);
  const server = new S3rver({ port: Number(port), address: "127.0.0.1", directory, silent: true, configureBuckets: [{ name: bucket }] });
  const uploadsOf = (name: string) => server.store.getResourcePath(name, undefined, "uploads");

  const multipart = async (context: KoaContext, next: () => Promise<void>): Promise<void> => {
    const [, name = "", ...keyParts] = context.path.split("/");
    const key = decodeURIComponent(keyParts.join("/"));
    if (context.method === "GET" && !key && "uploads" in context.query) {
      const prefix = context.query["prefix"] ?? "";
      const uploads = [];
      for (const uploadId of await readdir(uploadsOf(name)).catch(() => [])) {
        const directoryOfUpload = path.join(uploadsOf(name), uploadId);
        const uploadKey = await readFile(path.join(directoryOfUpload, "key"), "utf8").catch(() => "");
        if (!uploadKey.startsWith(prefix)) continue;
        uploads.push({ Key: uploadKey, UploadId: uploadId, Initiated: (await stat(directoryOfUpload)).birthtime.toISOString() });
      }
      context.body = { ListMultipartUploadsResult: { Bucket: name, Prefix: prefix, IsTruncated: false, ...(uploads.length ? { Upload: uploads } : {}) } };
      return;
    }
    if (context.method === "DELETE" && key && context.query["uploadId"]) {
      await rm(path.join(uploadsOf(name), path.basename(context.query["uploadId"])), { recursive: true, force: true });
      context.status = 204;
      return;
    }
    await next();
  };
  // Before s3rver's router (the last middleware), after its XML encoder and path-style handling.
  server.middleware.splice(server.middleware.length - 1, 0, multipart);
  const { port: actual } = await server.run();
  process.stdout.write(`ready ${actual}\n`);
}

void main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
