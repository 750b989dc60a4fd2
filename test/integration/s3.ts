// The S3 servers the tests run against: two independent implementations, unmodified. s3rver (npm)
// in its own process, and moto's server (Debian's python3-moto) in a container of
// test/s3-moto/image.sh. Assertions read the servers directly, never through pgfort's code.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { CreateBucketCommand, ListBucketsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, S3Client } from "@aws-sdk/client-s3";
import { TcpProxy } from "./tcp-proxy";

export const S3_SERVER_KINDS = ["s3rver", "moto"] as const;
/** s3rver's second key pair (test/integration/s3-server.ts): everything but deleting. */
export const NO_DELETE_CREDENTIALS = { AWS_ACCESS_KEY_ID: "NODELETE", AWS_SECRET_ACCESS_KEY: "NODELETE" } as const;
export type S3ServerKind = (typeof S3_SERVER_KINDS)[number];

const REPOSITORY = path.resolve(__dirname, "..", "..", "..");
const docker = new Dockerode();

export abstract class TestS3 {
  abstract readonly kind: S3ServerKind;
  /** Where pgfort sends its requests. */
  abstract get endpoint(): string;
  /** Open multipart uploads (their keys), as the server itself holds them. */
  abstract openUploads(): Promise<string[]>;
  /** True once some multipart upload has a part stored: a backup is mid-upload. */
  abstract hasStoredPart(): Promise<boolean>;
  /** The server stops answering at once, as a crash would; what it stored survives for recover(). */
  abstract crash(): Promise<void>;
  /** It answers again on the same endpoint, with what it had. */
  abstract recover(): Promise<void>;
  abstract stop(): Promise<void>;

  protected constructor(
    readonly bucket: string,
    private readonly credentials: { accessKeyId: string; secretAccessKey: string },
  ) {}

  /** Environment for pgfort: endpoint and credentials the standard way. */
  get env(): NodeJS.ProcessEnv {
    return { AWS_ACCESS_KEY_ID: this.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: this.credentials.secretAccessKey, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_S3: this.endpoint };
  }

  /** A client of the test's own, straight to the server (around any relay a crash cuts). */
  client(): S3Client {
    return new S3Client({ endpoint: this.directEndpoint(), region: "us-east-1", forcePathStyle: true, credentials: this.credentials });
  }

  async keys(prefix = ""): Promise<string[]> {
    const page = await this.client().send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
    return (page.Contents ?? []).map((item) => item.Key ?? "");
  }

  protected directEndpoint(): string {
    return this.endpoint;
  }
}

/** s3rver exactly as published (test/integration/s3-server.ts), on disk, in a child process. */
export class S3rverServer extends TestS3 {
  readonly kind = "s3rver";
  private process: ChildProcess | undefined;
  private port = 0;

  constructor(
    private readonly directory: string,
    bucket: string,
    /** Where the server logs every request (s3-server.ts), when asked for. */
    readonly requestLog?: string,
  ) {
    super(bucket, { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async launch(port: number): Promise<void> {
    const child = spawn(process.execPath, [path.join(__dirname, "s3-server.js"), String(port), this.directory, this.bucket, ...(this.requestLog ? [this.requestLog] : [])], { stdio: ["ignore", "pipe", "inherit"] });
    this.process = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
      child.stdout?.on("data", (chunk: Buffer) => {
        const match = /ready (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
    });
  }

  // s3rver has no ListMultipartUploads: its upload directories are the truth.
  async openUploads(): Promise<string[]> {
    const keys = [];
    for (const upload of await readdir(this.uploadsDirectory()).catch(() => [])) {
      keys.push(await readFile(path.join(this.uploadsDirectory(), upload, "key"), "utf8").catch(() => `(upload ${upload})`));
    }
    return keys;
  }

  async hasStoredPart(): Promise<boolean> {
    for (const upload of await readdir(this.uploadsDirectory()).catch(() => [])) {
      const parts = await readdir(path.join(this.uploadsDirectory(), upload)).catch(() => []);
      if (parts.some((name) => /^\d+$/.test(name))) return true;
    }
    return false;
  }

  async crash(): Promise<void> {
    this.process?.kill("SIGKILL");
    this.process = undefined;
  }

  async recover(): Promise<void> {
    await this.launch(this.port);
  }

  async stop(): Promise<void> {
    await this.crash();
    await rm(this.directory, { recursive: true, force: true });
    if (this.requestLog) await rm(this.requestLog, { force: true });
  }

  /** Every request the server got, in order (startS3 with logRequests). */
  async requests(): Promise<Array<{ method: string; path: string; query: string; existed: boolean; accessKey: string | null }>> {
    if (!this.requestLog) throw new Error("this server was started without logRequests");
    const text = await readFile(this.requestLog, "utf8").catch(() => "");
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { method: string; path: string; query: string; existed: boolean; accessKey: string | null });
  }

  private uploadsDirectory(): string {
    return path.join(this.directory, this.bucket, "._S3rver_uploads");
  }
}

/** moto's server in a container on a 127.0.0.1 port, behind a relay that crash() cuts (its state is in memory). */
class MotoServer extends TestS3 {
  readonly kind = "moto";

  constructor(
    private readonly container: Dockerode.Container,
    private readonly motoPort: number,
    private readonly proxy: TcpProxy,
    bucket: string,
  ) {
    super(bucket, { accessKeyId: "moto", secretAccessKey: "moto" });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.proxy.port}`;
  }

  protected override directEndpoint(): string {
    return `http://127.0.0.1:${this.motoPort}`;
  }

  async openUploads(): Promise<string[]> {
    const { Uploads = [] } = await this.client().send(new ListMultipartUploadsCommand({ Bucket: this.bucket }));
    return Uploads.map((upload) => upload.Key ?? "");
  }

  async hasStoredPart(): Promise<boolean> {
    const client = this.client();
    const { Uploads = [] } = await client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket }));
    for (const upload of Uploads) {
      const { Parts = [] } = await client.send(new ListPartsCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
      if (Parts.length > 0) return true;
    }
    return false;
  }

  async crash(): Promise<void> {
    await this.proxy.cut();
  }

  async recover(): Promise<void> {
    await this.proxy.resume();
  }

  async stop(): Promise<void> {
    await this.proxy.cut();
    await this.container.remove({ force: true });
  }
}

let motoImage: Promise<string> | undefined;

/** Builds moto's image once per run when missing (offline, about two minutes on a bare host; cached after). */
export function ensureMotoImage(): Promise<string> {
  motoImage ??= promisify(execFile)("bash", [path.join(REPOSITORY, "test", "s3-moto", "image.sh")], { maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout }) => stdout.trim().split("\n").at(-1) ?? "",
    (error: unknown) => {
      motoImage = undefined;
      throw new Error(`cannot build moto's image (test/s3-moto/image.sh): ${(error as { stderr?: string }).stderr ?? String(error)}`, { cause: error });
    },
  );
  return motoImage;
}

/** Names of the moto containers this run started: none may outlive its test. */
const motoContainersOfThisRun = new Set<string>();

/** Those still there, asked of the engine. */
export async function leftoverMotoContainers(): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: ["pgfort.test=s3-moto"] } });
  return containers.flatMap((container) => container.Names.map((name) => name.replace(/^\//, ""))).filter((name) => motoContainersOfThisRun.has(name));
}

async function startMoto(bucket: string): Promise<MotoServer> {
  const name = `pgfort-test-moto-${randomBytes(4).toString("hex")}`;
  motoContainersOfThisRun.add(name);
  const container = await docker.createContainer({
    name,
    Image: await ensureMotoImage(),
    Labels: { "pgfort.test": "s3-moto" },
    ExposedPorts: { "5000/tcp": {} },
    HostConfig: { PortBindings: { "5000/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] }, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"] },
  });
  const cleanup = () => container.remove({ force: true }).catch(() => undefined);
  try {
    await container.start();
    const binding = (await container.inspect()).NetworkSettings.Ports["5000/tcp"]?.[0]?.HostPort;
    if (!binding) throw new Error("moto's container published no port");
    const proxy = await TcpProxy.start(Number(binding));
    const moto = new MotoServer(container, Number(binding), proxy, bucket);
    await waitUntilAnswering(moto);
    await moto.client().send(new CreateBucketCommand({ Bucket: bucket }));
    return moto;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function waitUntilAnswering(s3: TestS3): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await s3.client().send(new ListBucketsCommand({}));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error("moto's server did not answer within 60 s", { cause: error });
      await sleep(200);
    }
  }
}

export async function startS3(kind: S3ServerKind, bucket = "pgfort-test", options: { logRequests?: boolean } = {}): Promise<TestS3> {
  let server: TestS3;
  if (kind === "moto") {
    server = await startMoto(bucket);
  } else {
    const directory = await mkdtemp(path.join(os.tmpdir(), "pgfort-s3-"));
    const s3rver = new S3rverServer(directory, bucket, options.logRequests ? `${directory}.requests.jsonl` : undefined);
    await s3rver.launch(0);
    server = s3rver;
  }
  servers.add(server);
  return server;
}

const servers = new Set<TestS3>();

export async function stopS3Servers(): Promise<void> {
  for (const server of servers) await server.stop();
  servers.clear();
}
