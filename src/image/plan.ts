// What `pgfort build` builds: tag, build args, labels and the files of the context. Pure.
import { z } from "zod";
import { defaultBase, type ImageConfig } from "../config/schema";
import { formatIssues } from "../config/issues";

/** A Docker image reference: [registry[:port]/]name[/name...][:tag][@digest]. */
const REFERENCE_PATTERN =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const ReferenceSchema = z.string().regex(REFERENCE_PATTERN, "not an image reference like pgfort/postgres:15");

/** The flags of `pgfort build`, as commander hands them over (strings). */
export const BuildFlagsSchema = z.strictObject({
  tag: ReferenceSchema.optional(),
  pgMajor: z.coerce
    .number({ error: "expected a PostgreSQL major version such as 17" })
    .int("expected a whole major version such as 17")
    .min(12, "PostgreSQL 12 is the oldest supported major")
    .max(30, "no such PostgreSQL major")
    .optional(),
  base: ReferenceSchema.optional(),
  noCache: z.boolean().default(false),
});
export type BuildFlags = z.input<typeof BuildFlagsSchema>;

export const DOCKERFILE = "images/postgres/Dockerfile";
/** The image's own files, relative to the package root; conf.d/*.conf is added from the listing. */
export const IMAGE_FILES = [
  DOCKERFILE,
  "images/postgres/docker-entrypoint.sh",
  "images/postgres/entrypoint-lib.sh",
  "images/postgres/pgfort-job.sh",
  "images/postgres/pgfort-archive-wal.sh",
  "images/postgres/pgfort-pooler.sh",
  "images/postgres/pg_hba.conf",
  "images/postgres/postgresql.conf",
] as const;

export interface ImageBuildPlan {
  tag: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  noCache: boolean;
  pgMajor: number;
  base: string;
}

/** Validates the flags of `pgfort build`; throws a ConfigError naming the flag and what it takes. */
export function parseBuildFlags(flags: Record<string, unknown>): z.output<typeof BuildFlagsSchema> {
  const parsed = BuildFlagsSchema.safeParse(flags);
  if (!parsed.success) throw formatIssues(parsed.error.issues, "option", (key) => `--${kebab(key)}`);
  return parsed.data;
}

/** Flags win over the config file; a new major without a tag gets the config tag's repository and that major. */
export function planImageBuild(
  image: ImageConfig,
  flags: z.output<typeof BuildFlagsSchema>,
  version: string,
): ImageBuildPlan {
  const pgMajor = flags.pgMajor ?? image.pgMajor;
  // A base the config names stays; otherwise another major gets its own Debian release.
  const base = flags.base ?? (image.baseFromConfig ? image.base : defaultBase(pgMajor));
  const tag = flags.tag ?? (flags.pgMajor === undefined ? image.tag : `${repositoryOf(image.tag)}:${pgMajor}`);
  return {
    tag,
    dockerfile: DOCKERFILE,
    pgMajor,
    base,
    noCache: flags.noCache,
    buildArgs: {
      BASE_IMAGE: base,
      PG_MAJOR: String(pgMajor),
      EXTENSIONS: image.extensions.join(" "),
      PGFORT_VERSION: version,
    },
    labels: { "io.pgfort.built-by": `pgfort ${version}` },
  };
}

/** The build context: the image's files plus every conf.d/*.conf, sorted, so the tar is reproducible. */
export function planContextFiles(confDirectoryListing: readonly string[]): string[] {
  const confFiles = confDirectoryListing.filter((name) => /^[\w.-]+\.conf$/.test(name)).map((name) => `conf.d/${name}`);
  return [...IMAGE_FILES, ...confFiles].sort();
}

function repositoryOf(reference: string): string {
  const withoutDigest = reference.split("@")[0] ?? reference;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const lastColon = withoutDigest.lastIndexOf(":");
  return lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
