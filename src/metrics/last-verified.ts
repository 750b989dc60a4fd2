// pgfort_backup_last_verified_timestamp_seconds: the newest restore drill that passed, over the
// cluster's backups in the target. Listing a target reads every manifest and verdict (on S3, a
// request each), so the answer is kept for cacheMs: a drill is hours apart, a scrape seconds.
import { listBackups, type BackupEntry } from "../backup/catalog";
import type { BackupTarget } from "../backup/targets/target";

export const DEFAULT_VERIFIED_CACHE_MS = 60_000;

export interface VerifiedSource {
  target: BackupTarget;
  cluster: string;
  /** How long one reading of the target is served; default a minute. */
  cacheMs?: number;
}

/** Unix seconds of the newest passed verdict, null when no backup has passed a drill. Pure. */
export function newestPassedSeconds(entries: readonly BackupEntry[]): number | null {
  const times = entries.flatMap((entry) => (entry.verified === "passed" && entry.verifiedAt ? [Date.parse(entry.verifiedAt)] : [])).filter((time) => !Number.isNaN(time));
  return times.length > 0 ? Math.max(...times) / 1000 : null;
}

export class LastVerifiedReader {
  private cached: { atMs: number; reading: Promise<number | null> } | undefined;

  constructor(
    private readonly source: VerifiedSource,
    private readonly onError: (error: unknown) => void,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /**
   * The newest passed drill's time, from the cache when it is fresh. A target that cannot be read
   * gives null (the series is absent, never an old value) and is asked again only after cacheMs.
   */
  read(): Promise<number | null> {
    const now = this.nowMs();
    if (!this.cached || now - this.cached.atMs >= (this.source.cacheMs ?? DEFAULT_VERIFIED_CACHE_MS)) {
      const reading = listBackups(this.source.target, this.source.cluster)
        .then(newestPassedSeconds)
        .catch((error: unknown) => {
          this.onError(error);
          return null;
        });
      this.cached = { atMs: now, reading };
    }
    return this.cached.reading;
  }
}
