// Prometheus durations ("2d", "90m") from seconds: rules a person reads say 2d, not 172800s.

const UNITS: ReadonlyArray<[suffix: string, seconds: number]> = [
  ["w", 604_800],
  ["d", 86_400],
  ["h", 3_600],
  ["m", 60],
  ["s", 1],
];

/** Whole seconds as the largest Prometheus unit that divides them evenly: 172800 -> "2d", 5400 -> "90m". */
export function formatPrometheusDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new RangeError(`not a positive whole number of seconds: ${seconds}`);
  for (const [suffix, unitSeconds] of UNITS) {
    if (seconds % unitSeconds === 0) return `${seconds / unitSeconds}${suffix}`;
  }
  return `${seconds}s`;
}
