// Where the agent's job server listens, and the frames of its protocol beside the job's own NDJSON
// events. No imports: the exec'd client (job-client.ts) loads this and nothing else, so a job
// handed to the running agent costs no Node module loading.

/** On the agent's tmpfs (gone with the container), mode 0600: only the agent's uid connects. */
export const AGENT_JOB_SOCKET = "/tmp/pgfort-jobs.sock";

/** The variables a hand-off sets on its `docker exec` that change what a job does: a job whose values differ from the agent's own runs in its own process. */
export const JOB_ENV_KEYS = ["PGFORT_S3_ENDPOINT", "AWS_REGION", "AWS_SHARED_CREDENTIALS_FILE"] as const;

/** The client's one line: the `pgfort` arguments (["job", …]) and its values of JOB_ENV_KEYS. */
export interface JobRequest {
  argv: string[];
  env: Record<string, string>;
}

/** The server's own lines; every other line is the job's NDJSON event, relayed as it is. */
export type ServerFrame = { accepted: true } | { fallback: string } | { exit: number };

export function parseServerFrame(line: string): ServerFrame | undefined {
  if (!line.startsWith('{"accepted"') && !line.startsWith('{"fallback"') && !line.startsWith('{"exit"')) return undefined;
  try {
    const frame = JSON.parse(line) as Record<string, unknown>;
    if (frame["accepted"] === true) return { accepted: true };
    if (typeof frame["fallback"] === "string") return { fallback: frame["fallback"] };
    if (typeof frame["exit"] === "number" && Number.isInteger(frame["exit"])) return { exit: frame["exit"] };
  } catch {
    // not a frame: an event line that happens to start the same way
  }
  return undefined;
}

export function formatFrame(frame: ServerFrame | JobRequest): string {
  return `${JSON.stringify(frame)}\n`;
}
