// s3rver exactly as published, in its own process: a third-party S3 server with no routes added,
// so the tests meet what users meet (it lacks ListMultipartUploads and AbortMultipartUpload).
// Usage: node s3-server.js PORT DIRECTORY BUCKET; prints "ready PORT". Used by the tests and the bench.

// s3rver has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }> };

async function main(): Promise<void> {
  const [port = "0", directory = "", bucket = "pgfort-test"] = process.argv.slice(2);
  // Every address: job containers reach it through their network's gateway (src/handoff/s3-access.ts).
  const server = new S3rver({ port: Number(port), address: "0.0.0.0", directory, silent: true, configureBuckets: [{ name: bucket }] });
  const { port: actual } = await server.run();
  process.stdout.write(`ready ${actual}\n`);
}

void main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
