// The longest gap between two consecutive fire times of a cron schedule: the "period" that the
// no-recent-backup alert allows twice. Not the gap between the next two runs (what the scheduler
// logs): "0 3 * * 1-5" fires 24 h apart on weekdays but 72 h apart over a weekend, and an alert
// built on 24 h would fire every Monday. cron-parser is not a dependency; node-cron's own matcher
// decides which days fire, so the rule agrees with the scheduler on every cron dialect detail
// (it ANDs day-of-month and day-of-week, unlike Vixie cron's OR; L, W and # tokens).
import cron from "node-cron";
import { ConfigError } from "../errors";

const DAY_SECONDS = 86_400;
// Nine years from a fixed start: long enough to see two fires of a leap-day schedule (2024, 2028,
// 2032), and fixed so the generated rules do not change with the day they are printed.
const WINDOW_START_MS = Date.UTC(2024, 0, 1);
const WINDOW_DAYS = 9 * 366;

/**
 * Longest gap, in seconds, between consecutive fire times of `expression` (5 or 6 fields),
 * counted in the schedule's wall-clock time. Throws ConfigError for a schedule that is not cron
 * or fires fewer than twice in nine years.
 */
export function longestCronGapSeconds(expression: string): number {
  if (!cron.validate(expression)) {
    throw new ConfigError(`${JSON.stringify(expression)} is not a cron expression`, 'use e.g. "0 3 * * *"');
  }
  const fields = cron.parse(expression);
  const secondsOfDay = dailyFireSeconds(fields.hour, fields.minute, fields.second);
  const first = secondsOfDay[0];
  const last = secondsOfDay[secondsOfDay.length - 1];
  if (first === undefined || last === undefined) throw new ConfigError(`${expression} never fires`, "fix the schedule");
  // Which days fire does not depend on the time of day, so one match per day at its first fire time tells.
  const matcher = cron.createTask(expression, () => undefined, { timezone: "UTC" });
  const fireDays: number[] = [];
  try {
    for (let day = 0; day < WINDOW_DAYS; day++) {
      if (matcher.match(new Date(WINDOW_START_MS + day * DAY_SECONDS * 1000 + first * 1000))) fireDays.push(day);
    }
  } finally {
    void matcher.destroy(); // createTask registers the task in node-cron's global list; take it out again
  }
  if (fireDays.length < 2) {
    throw new ConfigError(`${expression} fires less than twice in nine years: no alert can wait two periods for it`, "schedule the job at least once a year");
  }
  let longest = 0;
  for (let index = 1; index < secondsOfDay.length; index++) {
    longest = Math.max(longest, (secondsOfDay[index] ?? 0) - (secondsOfDay[index - 1] ?? 0));
  }
  for (let index = 1; index < fireDays.length; index++) {
    const daysApart = (fireDays[index] ?? 0) - (fireDays[index - 1] ?? 0);
    longest = Math.max(longest, daysApart * DAY_SECONDS - last + first);
  }
  return longest;
}

/** Every second of the day at which the schedule fires, ascending. */
function dailyFireSeconds(hours: readonly number[], minutes: readonly number[], seconds: readonly number[]): number[] {
  const times: number[] = [];
  for (const hour of hours) for (const minute of minutes) for (const second of seconds) times.push(hour * 3600 + minute * 60 + second);
  return times.sort((left, right) => left - right);
}
