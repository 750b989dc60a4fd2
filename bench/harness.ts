// What the benchmarks share: timed steps (median of PGFORT_BENCH_REPEATS runs, with the job's peak
// RSS), the raw tools run in a container with their output in a file or the S3 server, and the S3
// protocol server in its own process.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

export interface Result {
  step: string;
  seconds: number;
  bytes: number;
  peakRssMb?: number;
}

export const results: Result[] = [];

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export const REPEATS = Number(process.env["PGFORT_BENCH_REPEATS"] ?? 5);
export const IMAGE = process.env["PGFORT_BENCH_IMAGE"] ?? "pgfort/postgres:17";

/**
 * Runs `work` REPEATS times and keeps the median time. pgfort's work runs in the job process in
 * the agent (or a one-off container): its peak RSS is what that process reports at its end
 * (getrusage's maxrss), the highest over the runs.
 */
export async function measure(step: string, work: (reportRss: (bytes: number) => void) => Promise<number>, trackRss: boolean, prepare?: (round: number) => Promise<void>): Promise<Result> {
  const times: number[] = [];
  let bytes = 0;
  let peak = 0;
  for (let round = 1; round <= REPEATS; round += 1) {
    await prepare?.(round);
    log(`${step} (run ${round}/${REPEATS}) ...`);
    const started = process.hrtime.bigint();
    bytes = await work((rss) => (peak = Math.max(peak, rss)));
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  const seconds = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
  if (trackRss && peak === 0) throw new Error(`${step}: the job reported no peak RSS (an agent image older than this pgfort?)`);
  const result: Result = { step, seconds, bytes, ...(trackRss ? { peakRssMb: Math.round(peak / 1024 / 1024) } : {}) };
  results.push(result);
  log(`${step}: median ${seconds.toFixed(1)} s of ${times.map((time) => time.toFixed(1)).join(", ")}; ${(bytes / 1024 / 1024).toFixed(1)} MiB${trackRss ? `, peak RSS ${result.peakRssMb} MiB` : ""}`);
  return result;
}

/** A raw tool inside the primary, piped out of `docker exec` into a file: what users script today. */
export async function dockerExecToFile(container: string, script: string, file: string): Promise<number> {
  const out = createWriteStream(file);
  await new Promise<void>((resolve, reject) => {
    const child = spawn("docker", ["exec", container, "bash", "-c", `set -euo pipefail\n${script}`], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.stdout.pipe(out);
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`docker exec exited ${code}: ${stderr}`))));
  });
  await new Promise((resolve) => out.close(resolve));
  return (await stat(file)).size;
}

/**
 * The same raw tool piped out of `docker exec` into the same S3 server, with the SDK's streaming
 * upload and pgfort's part size: what the S3 server itself costs on this machine (it shares the CPUs).
 */
export async function dockerExecToS3(container: string, script: string, endpoint: string, key: string): Promise<number> {
  const client = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  const child = spawn("docker", ["exec", container, "bash", "-c", `set -euo pipefail\n${script}`], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let bytes = 0;
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  child.stdout.on("data", (chunk: Buffer) => (bytes += chunk.length));
  const exited = new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`docker exec exited ${code}: ${stderr}`))));
  });
  await Promise.all([new Upload({ client, params: { Bucket: "pgfort-bench", Key: key, Body: child.stdout }, partSize: 16 * 1024 * 1024, queueSize: 3 }).done(), exited]);
  client.destroy();
  return bytes;
}

export async function startS3(directory: string): Promise<{ endpoint: string; stop(): void }> {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "test", "integration", "s3-server.js"), "0", directory, "pgfort-bench"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`S3 server exited ${code}`)));
    child.stdout.on("data", (chunk: Buffer) => {
      const match = /ready (\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

