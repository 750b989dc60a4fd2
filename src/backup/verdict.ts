// A drill's verdict, and which one counts. Each drill that reaches a verdict writes a new file
// (verify-<stamp>-<random>.json); the newest counts. A drill stopped by an error writes none, so an
// engine that went away can never turn a good backup's "passed" into "failed". Pure.
import { z } from "zod";
import type { JsonReadResult } from "../state/json-file";

const CheckSchema = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
const ToolSchema = z.object({ name: z.literal("pgfort"), version: z.string() });

export const VerdictSchema = z.object({
  formatVersion: z.literal(2),
  id: z.string(),
  /** Only what a drill that ran to its end can say; errors are never recorded as verdicts. */
  status: z.enum(["passed", "failed"]),
  verifiedAt: z.string(),
  checks: z.array(CheckSchema),
  tool: ToolSchema,
});
export type Verdict = z.infer<typeof VerdictSchema>;

/** verify.json of earlier versions: `ok` instead of `status`. */
const LegacyVerdictSchema = z.object({ id: z.string(), ok: z.boolean(), verifiedAt: z.string(), checks: z.array(CheckSchema), tool: ToolSchema });

/** Either shape, read as the current one. */
export const StoredVerdictSchema: z.ZodType<Verdict> = z.union([
  VerdictSchema,
  LegacyVerdictSchema.transform((legacy): Verdict => ({
    formatVersion: 2,
    id: legacy.id,
    status: legacy.ok ? "passed" : "failed",
    verifiedAt: legacy.verifiedAt,
    checks: legacy.checks,
    tool: legacy.tool,
  })),
]);

export interface VerdictReading {
  file: string;
  read: JsonReadResult<Verdict>;
}

export interface CurrentVerdict {
  verified: "passed" | "failed" | null;
  verifiedAt: string | null;
  /** Why no verdict can be trusted, when a verdict file is unreadable. */
  problem: string | null;
}

/**
 * The newest verdict (by verifiedAt, then by file name). When any verdict file is unreadable the
 * answer is "unknown": that file may be the newest, and saying "passed" over a lost "failed" is the
 * one mistake a verdict must not make. The backup itself stays complete (its data is not in doubt).
 */
export function currentVerdict(readings: readonly VerdictReading[]): CurrentVerdict {
  const unreadable = readings.flatMap((reading) => (reading.read.ok ? [] : [reading.read.reason]));
  if (unreadable.length > 0) return { verified: null, verifiedAt: null, problem: `verdict unknown: ${unreadable.join("; ")}` };
  const verdicts = readings.flatMap((reading) => (reading.read.ok ? [{ file: reading.file, verdict: reading.read.value }] : []));
  verdicts.sort((a, b) => Date.parse(b.verdict.verifiedAt) - Date.parse(a.verdict.verifiedAt) || b.file.localeCompare(a.file));
  const newest = verdicts[0];
  return newest ? { verified: newest.verdict.status, verifiedAt: newest.verdict.verifiedAt, problem: null } : { verified: null, verifiedAt: null, problem: null };
}
