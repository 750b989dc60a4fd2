// What a job container reports back (one PGFORT-RESULT JSON line, images/postgres/pgfort-job.sh),
// checked by schema; and the byte counter/hasher every stored file passes through.
import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { z } from "zod";
import { BackupError } from "../errors";

const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;

export const JobResultSchema = z.object({
  /** What the tool wrote before compression (dd's count); null when not measured (pg_dump -Z). */
  rawBytes: z.number().int().nonnegative().nullable().optional(),
  rowCounts: z.record(z.string(), z.number().int().nonnegative()).optional(),
  wal: z
    .object({ startLsn: z.string().regex(LSN), endLsn: z.string().regex(LSN), timeline: z.number().int().positive() })
    .optional(),
  /** basebackup with PGFORT_KEEP_MANIFEST: the stored form of its backup_manifest, a file in the program's PGFORT_TMP. */
  pgManifest: z.literal("backup_manifest.stored").optional(),
});
export type JobResult = z.infer<typeof JobResultSchema>;

/** The job's result line, validated; a job that exited 0 without a valid one is a failed job. */
export function readJobResult(result: unknown, what: string): JobResult {
  const parsed = JobResultSchema.safeParse(result);
  if (result === undefined || !parsed.success) {
    throw new BackupError(
      `${what} ended without a valid result line${parsed.error ? `: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}` : ""}`,
      "the image's pgfort-job does not match this pgfort: rebuild it with pgfort build",
    );
  }
  return parsed.data;
}

/** Counts and hashes what passes through: sha256 and byte count computed on the way. */
export class Measure extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;

  constructor(private readonly onBytes: (bytes: number) => void = () => undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }

  sha256(): string {
    return this.hash.digest("hex");
  }
}
