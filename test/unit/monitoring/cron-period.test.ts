import assert from "node:assert/strict";
import cron from "node-cron";
import { longestCronGapSeconds } from "../../../src/monitoring/cron-period";
import { formatPrometheusDuration } from "../../../src/monitoring/duration";
import { ConfigError } from "../../../src/errors";

const HOUR = 3600;
const DAY = 24 * HOUR;

describe("longestCronGapSeconds", function () {
  it("is the interval of evenly spaced schedules", function () {
    assert.equal(longestCronGapSeconds("0 3 * * *"), DAY);
    assert.equal(longestCronGapSeconds("*/15 * * * *"), 15 * 60);
    assert.equal(longestCronGapSeconds("*/30 * * * * *"), 30);
    assert.equal(longestCronGapSeconds("0 4 * * 0"), 7 * DAY);
  });

  it("is the longest gap, not the next one, for uneven schedules", function () {
    // Weekdays: Friday 03:00 to Monday 03:00.
    assert.equal(longestCronGapSeconds("0 3 * * 1-5"), 3 * DAY);
    // 02:00 and 06:00: the night gap is 20 h.
    assert.equal(longestCronGapSeconds("0 2,6 * * *"), 20 * HOUR);
    // Monthly: the longest month between two firsts is 31 days.
    assert.equal(longestCronGapSeconds("0 0 1 * *"), 31 * DAY);
    // The 31st skips the short months: 31 March to 31 May is 61 days.
    assert.equal(longestCronGapSeconds("0 0 31 * *"), 61 * DAY);
  });

  it("sees leap-day schedules (four years apart)", function () {
    assert.equal(longestCronGapSeconds("0 0 29 2 *"), (4 * 365 + 1) * DAY);
  });

  it("follows node-cron's day rule (day of month AND day of week), as the scheduler does", function () {
    // Friday the 13th: with AND the gap is up to 14 months; Vixie cron's OR would make it about a week.
    assert.ok(longestCronGapSeconds("0 0 13 * 5") > 300 * DAY);
  });

  it("leaves no task behind in node-cron's registry", function () {
    const before = cron.getTasks().size;
    longestCronGapSeconds("0 3 * * *");
    assert.equal(cron.getTasks().size, before);
  });

  it("rejects what is not cron, and schedules too rare to alert on", function () {
    assert.throws(() => longestCronGapSeconds("daily"), ConfigError);
    // 29 February on a Monday: 2016, then 2044.
    assert.throws(() => longestCronGapSeconds("0 0 29 2 1"), /less than twice/);
  });
});

describe("formatPrometheusDuration", function () {
  it("uses the largest unit that divides evenly", function () {
    assert.equal(formatPrometheusDuration(2 * DAY), "2d");
    assert.equal(formatPrometheusDuration(14 * DAY), "2w");
    assert.equal(formatPrometheusDuration(90 * 60), "90m");
    assert.equal(formatPrometheusDuration(61), "61s");
    assert.throws(() => formatPrometheusDuration(0), RangeError);
  });
});
