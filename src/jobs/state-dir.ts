// Where a job keeps what must outlive one call (the S3 orphan journal: uploads whose abort
// failed, for the next prune): the agent's scratch volume when it has one, else the job
// container's tmpfs (a one-off container's journal then goes with it; servers that list
// multipart uploads are cleaned by the next backup or prune anyway).
import { access, constants, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { AGENT_SCRATCH_DIR } from "../agent/contract";

export async function jobStateDir(scratch = AGENT_SCRATCH_DIR): Promise<string> {
  for (const base of [scratch, tmpdir()]) {
    const directory = path.join(base, "state");
    try {
      await access(base, constants.W_OK);
      await mkdir(directory, { recursive: true, mode: 0o700 });
      return directory;
    } catch {
      // not writable here: the next place
    }
  }
  return path.join(tmpdir(), "state");
}
