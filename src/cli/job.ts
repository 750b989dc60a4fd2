// `pgfort job …`: internal commands that run inside the agent image (the host hands jobs to them).
import type { Command } from "commander";
import { registerJobVerify } from "./job-verify";

export function registerJob(program: Command): void {
  const job = program.command("job").description("internal: jobs that run inside the agent image (the host's backup and verify commands hand them over)");
  registerJobVerify(job);
}
