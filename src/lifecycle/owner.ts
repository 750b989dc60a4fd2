// The process that owns throwaway Docker objects and partial files, and whether it still runs.
// Identity is host + pid + the process's start time: a pid reused by another process after a
// crash has another start time, so its objects are still seen as orphaned.
import { readFileSync } from "node:fs";
import os from "node:os";
import { z } from "zod";
import { LABEL_OWNER_HOST, LABEL_OWNER_PID, LABEL_OWNER_STARTED } from "../docker/labels";

export const OwnerSchema = z.object({
  host: z.string().min(1),
  pid: z.coerce.number().int().positive(),
  started: z.string().min(1),
});
export type Owner = z.infer<typeof OwnerSchema>;

/** "alive": the owner runs; "gone": it does not (on this host); "unknown": another host's process. */
export type OwnerState = "alive" | "gone" | "unknown";

/**
 * A process's start time as the kernel counts it (field 22 of /proc/PID/stat, clock ticks since
 * boot), undefined when no such process runs. Where /proc does not exist, "no-proc".
 */
export function processStartTime(pid: number): string | undefined | "no-proc" {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
    return procExists() ? undefined : "no-proc";
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19]; // field 22 overall: 2 fields (pid, comm) before the slice, 0-based
}

function procExists(): boolean {
  try {
    readFileSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
}

let current: Owner | undefined;

/** This process as an owner. Without /proc the start time is this process's start as a timestamp. */
export function currentOwner(): Owner {
  if (!current) {
    const ticks = processStartTime(process.pid);
    const started = ticks && ticks !== "no-proc" ? ticks : `t${Math.round(Date.now() - process.uptime() * 1000)}`;
    current = { host: os.hostname(), pid: process.pid, started };
  }
  return current;
}

export function ownerLabels(owner: Owner = currentOwner()): Record<string, string> {
  return { [LABEL_OWNER_HOST]: owner.host, [LABEL_OWNER_PID]: String(owner.pid), [LABEL_OWNER_STARTED]: owner.started };
}

/** The owner recorded in an object's labels, or undefined when they are missing or malformed. */
export function ownerOf(labels: Record<string, string> | undefined): Owner | undefined {
  const parsed = OwnerSchema.safeParse({
    host: labels?.[LABEL_OWNER_HOST],
    pid: labels?.[LABEL_OWNER_PID],
    started: labels?.[LABEL_OWNER_STARTED],
  });
  return parsed.success ? parsed.data : undefined;
}

/**
 * Pure: is the owner running? `startTimeOf` answers for a pid of this host (the kernel's start
 * time, undefined for no such process, "no-proc" where that cannot be read). Without /proc, a
 * running pid counts as alive (pid reuse then keeps a leftover until that pid ends: safe side).
 */
export function ownerState(owner: Owner, localHost: string, startTimeOf: (pid: number) => string | undefined | "no-proc", pidRuns: (pid: number) => boolean): OwnerState {
  if (owner.host !== localHost) return "unknown";
  const started = startTimeOf(owner.pid);
  if (started === "no-proc") return pidRuns(owner.pid) ? "alive" : "gone";
  return started === owner.started ? "alive" : "gone";
}

/** process.kill(pid, 0): true when a process with that pid exists (EPERM: it exists, not ours). */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
