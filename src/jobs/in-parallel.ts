// A bounded pool of async work: the parallel engine's bundle workers, a parallel restore's extractions.

/**
 * `work` over `items`, at most `limit` at once, results in the items' order. The first failure
 * aborts the others (their signal) and is what rejects, once every one has settled.
 */
export async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T, signal: AbortSignal) => Promise<R>, outer?: AbortSignal): Promise<R[]> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onAbort, { once: true });
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let firstError: unknown;
  const lane = async () => {
    while (next < items.length && !controller.signal.aborted) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, controller.signal);
      } catch (error) {
        if (firstError === undefined) firstError = error;
        controller.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  } finally {
    outer?.removeEventListener("abort", onAbort);
  }
  if (firstError !== undefined) throw outer?.aborted ? outer.reason : firstError;
  return results;
}
