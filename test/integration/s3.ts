// Starts and stops the test S3 server in its own process.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { S3Client, ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";

export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

export class TestS3 {
  private process: ChildProcess | undefined;
  port = 0;

  private constructor(
    readonly directory: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = "pgfort-test"): Promise<TestS3> {
    const s3 = new TestS3(await mkdtemp(path.join(os.tmpdir(), "pgfort-s3-")), bucket);
    await s3.launch(0);
    servers.add(s3);
    return s3;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Environment for pgfort: endpoint and credentials the standard way. */
  get env(): NodeJS.ProcessEnv {
    return { ...S3_CREDENTIALS, AWS_ENDPOINT_URL_S3: this.endpoint };
  }

  async launch(port: number): Promise<void> {
    const child = spawn(process.execPath, [path.join(__dirname, "s3-server.js"), String(port), this.directory, this.bucket], { stdio: ["ignore", "pipe", "inherit"] });
    this.process = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`the S3 server exited with ${code}`)));
      child.stdout?.on("data", (chunk: Buffer) => {
        const match = /ready (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
    });
  }

  /** Kills the server at once, as a crash would. */
  kill(): void {
    this.process?.kill("SIGKILL");
    this.process = undefined;
  }

  async stop(): Promise<void> {
    this.kill();
    await rm(this.directory, { recursive: true, force: true });
  }

  client(): S3Client {
    return new S3Client({ endpoint: this.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  }

  async keys(prefix = ""): Promise<string[]> {
    const page = await this.client().send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
    return (page.Contents ?? []).map((item) => item.Key ?? "");
  }

  async multipartUploads(): Promise<string[]> {
    const { Uploads = [] } = await this.client().send(new ListMultipartUploadsCommand({ Bucket: this.bucket }));
    return Uploads.map((upload) => upload.Key ?? "");
  }
}

const servers = new Set<TestS3>();

export async function stopS3Servers(): Promise<void> {
  for (const server of servers) await server.stop();
  servers.clear();
}
