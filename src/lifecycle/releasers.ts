// Undo work in reverse order of doing it, every step attempted, the first error kept (graphile
// worker's withReleasers): a failed removal never hides the error that made us clean up.

export type Releaser = () => Promise<void> | void;

export class Releasers {
  private readonly stack: Releaser[] = [];

  /** Registers a release to run at the end; the last one added runs first. */
  add(release: Releaser): void {
    this.stack.push(release);
  }

  /** Runs every release once, in reverse order; throws the first error after all have run. */
  async release(): Promise<void> {
    let first: { error: unknown } | undefined;
    while (this.stack.length > 0) {
      const release = this.stack.pop();
      try {
        await release?.();
      } catch (error) {
        first ??= { error };
      }
    }
    if (first) throw first.error;
  }
}

/**
 * Runs `work` with a fresh set of releasers and always releases them. An error of `work` wins
 * over an error of a release (the cause the user must see); a release error alone is thrown.
 */
export async function withReleasers<T>(work: (releasers: Releasers) => Promise<T>): Promise<T> {
  const releasers = new Releasers();
  let result: T;
  try {
    result = await work(releasers);
  } catch (error) {
    await releasers.release().catch(() => undefined);
    throw error;
  }
  await releasers.release();
  return result;
}
