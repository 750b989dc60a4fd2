// Which major a cluster runs once `pgfort upgrade` moved it (issue 12): .pgfort/<cluster>/major.json.
// The config names the major a cluster is created with; after an upgrade this file says what runs
// (the new image and its generation of volumes) and what is kept for --rollback until --finalize.
import path from "node:path";
import { z } from "zod";
import { StateFileError } from "../errors";
import { readJsonFile, writeJsonFileAtomic } from "../state/json-file";
import { defaultBase, type ImageConfig } from "./schema";

const GenerationSchema = z.strictObject({
  major: z.number().int(),
  /** The server image; its agent image is `<tag>-agent`. */
  tag: z.string().min(1),
  /** Of its volumes and conf.d (names.ts nodeVolumes): "" for the volumes the cluster was created with. */
  volumeSuffix: z.string(),
});
export type Generation = z.infer<typeof GenerationSchema>;

export const MajorStateSchema = z.strictObject({
  current: GenerationSchema,
  /** The major the last upgrade came from, kept stopped for --rollback; absent once finalized or rolled back. */
  previous: GenerationSchema.extend({
    /** Its volumes, which --finalize removes (and nothing else). */
    volumes: z.array(z.string()),
  }).optional(),
  upgradedAt: z.string().optional(),
  /** Writes stopped to the new primary healthy, in the last upgrade. */
  downtimeMs: z.number().optional(),
  /**
   * The highest timeline any generation of this cluster used: each upgrade starts its WAL on a
   * timeline above it, so its archived WAL can never take a name the archive holds already.
   */
  highestTimeline: z.number().int().min(1),
});
export type MajorState = z.infer<typeof MajorStateSchema>;

export function majorStateFile(stateDir: string): string {
  return path.join(stateDir, "major.json");
}

/** Absent: never upgraded. Unreadable: an error, never "never upgraded" (that would start the old image on new data). */
export async function readMajorState(stateDir: string): Promise<MajorState | undefined> {
  const file = majorStateFile(stateDir);
  const read = await readJsonFile(file, MajorStateSchema);
  if (read.ok) return read.value;
  if (read.problem === "absent") return undefined;
  throw new StateFileError(
    `cannot tell which PostgreSQL major the cluster runs: ${read.reason}`,
    `docker volume ls --filter label=pgfort.cluster shows the generations (volumes ending in -pg<major>); write the one in use to ${file} as {"current":{"major":17,"tag":"pgfort/postgres:17","volumeSuffix":"-pg17"},"highestTimeline":2}`,
  );
}

export async function writeMajorState(stateDir: string, state: MajorState): Promise<void> {
  await writeJsonFileAtomic(majorStateFile(stateDir), state, { mode: 0o644 });
}

/** The suffix of the volumes an upgrade to `major` creates. */
export function generationSuffix(major: number): string {
  return `-pg${major}`;
}

/** The image the cluster runs: the config's, or, after an upgrade, the state's. Pure. */
export function applyMajorState(image: ImageConfig, state: MajorState | undefined): ImageConfig {
  if (!state) return image;
  const { major, tag, volumeSuffix } = state.current;
  return { ...image, pgMajor: major, tag, volumeSuffix, base: image.baseFromConfig ? image.base : defaultBase(major) };
}
