/**
 * When a cron expression fires next, as a pure function of "now" and a
 * time zone. node-cron parses the expression (5 fields, or 6 with seconds
 * first) so that what we show is what it runs; the walk through wall-clock
 * times is ours, because node-cron computes next runs only from the real
 * clock.
 *
 * The rules follow node-cron: the day-of-month and day-of-week fields must
 * both match (Vixie cron would accept either); a wall-clock time that a
 * daylight-saving change skips does not happen, so its run is skipped; a
 * time that happens twice when clocks go back runs once, at its first
 * occurrence.
 */
import cron from 'node-cron';
import type { ParsedFields } from 'node-cron';

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** A schedule for 29 February on a given weekday repeats every 28 years. */
const MAX_DAYS = 366 * 28;

const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Problems with the expression, in node-cron's words; empty when valid. */
export function checkCronExpression(expression: string): string[] {
  const check = cron.validateDetailed(expression);
  return check.errors.map((error) => `${error.field}: ${error.message}`);
}

export function isValidTimezone(timezone: string): boolean {
  try {
    formatterFor(timezone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first instant strictly after `after` (milliseconds) at which the
 * expression fires in `timezone`, or null when it never does again within
 * 28 years. Throws on an invalid expression or time zone: check first.
 */
export function nextRunAfter(expression: string, after: number, timezone: string): number | null {
  const fields = cron.parse(expression);
  const hours = ascending(fields.hour);
  const minutes = ascending(fields.minute);
  const seconds = ascending(fields.second);

  const start = wallClockAt(Math.floor(after / 1000) * 1000, timezone);
  let date = { year: start.year, month: start.month, day: start.day };

  for (let offset = 0; offset < MAX_DAYS; offset += 1) {
    if (isMatchingDay(fields, date.year, date.month, date.day)) {
      const floor = offset === 0 ? start : null;
      for (const hour of hours) {
        if (floor && hour < floor.hour) continue;
        for (const minute of minutes) {
          for (const second of seconds) {
            const time = { ...date, hour, minute, second };
            if (floor && !isLaterInDay(time, floor)) continue;
            const instant = firstInstantOf(time, timezone);
            if (instant !== null && instant > after) return instant;
          }
        }
      }
    }
    date = nextDate(date.year, date.month, date.day);
  }
  return null;
}

function isMatchingDay(fields: ParsedFields, year: number, month: number, day: number): boolean {
  if (!fields.month.includes(month)) return false;
  const dayOfMonth = fields.dayOfMonth.some((token) => isDayOfMonth(token, year, month, day));
  const dayOfWeek = fields.dayOfWeek.some((token) => isDayOfWeek(token, year, month, day));
  return dayOfMonth && dayOfWeek;
}

/** 15, L (last day), L-3 (three before the last), 15W / LW (nearest weekday). */
function isDayOfMonth(token: number | string, year: number, month: number, day: number): boolean {
  if (typeof token === 'number') return token === day;
  const last = daysInMonth(year, month);
  if (token === 'L') return day === last;

  const beforeLast = /^L-(\d{1,2})$/.exec(token);
  if (beforeLast) return day === last - Number(beforeLast[1]);

  const weekday = /^(\d{1,2}|L)W$/.exec(token);
  if (weekday) {
    const target = weekday[1] === 'L' ? last : Number(weekday[1]);
    return target <= last && day === nearestWeekday(year, month, target);
  }
  return false;
}

/** 0-6 from Sunday, 2#3 (third Tuesday), 5L (last Friday of the month). */
function isDayOfWeek(token: number | string, year: number, month: number, day: number): boolean {
  const weekday = weekdayOf(year, month, day);
  if (typeof token === 'number') return token % 7 === weekday;

  const nth = /^([0-7])#([1-5])$/.exec(token);
  if (nth) return Number(nth[1]) % 7 === weekday && Math.ceil(day / 7) === Number(nth[2]);

  const last = /^([0-7])L$/i.exec(token);
  if (last) return Number(last[1]) % 7 === weekday && day + 7 > daysInMonth(year, month);
  return false;
}

/** A weekend day moves to the closest weekday of the same month. */
function nearestWeekday(year: number, month: number, target: number): number {
  const weekday = weekdayOf(year, month, target);
  const last = daysInMonth(year, month);
  if (weekday === 6) return target === 1 ? 3 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

/**
 * The earliest instant whose wall clock in the zone reads `time`, or null
 * when the zone skips it. Offsets are tried from a day before and a day
 * after: no zone changes its offset twice within two days.
 */
function firstInstantOf(time: WallClock, timezone: string): number | null {
  const asUtc = Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute, time.second);
  const offsets = new Set([
    offsetAt(asUtc - DAY_MS, timezone),
    offsetAt(asUtc, timezone),
    offsetAt(asUtc + DAY_MS, timezone),
  ]);

  const instants = [...offsets]
    .map((offset) => asUtc - offset)
    .filter((instant) => isSameWallClock(wallClockAt(instant, timezone), time));
  return instants.length === 0 ? null : Math.min(...instants);
}

/** How far the zone's wall clock is ahead of UTC at this instant, in ms. */
function offsetAt(instant: number, timezone: string): number {
  const wall = wallClockAt(instant, timezone);
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

function wallClockAt(instant: number, timezone: string): WallClock {
  const parts = formatterFor(timezone).formatToParts(new Date(instant));
  const value = (type: Intl.DateTimeFormatPartTypes) =>
    Number(parts.find((part) => part.type === type)?.value ?? Number.NaN);

  return {
    year: value('year'),
    month: value('month'),
    day: value('day'),
    // Some engines write midnight as hour 24 with hourCycle h23 unset.
    hour: value('hour') % 24,
    minute: value('minute'),
    second: value('second'),
  };
}

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

function isSameWallClock(a: WallClock, b: WallClock): boolean {
  return (
    a.year === b.year &&
    a.month === b.month &&
    a.day === b.day &&
    a.hour === b.hour &&
    a.minute === b.minute &&
    a.second === b.second
  );
}

function isLaterInDay(time: WallClock, floor: WallClock): boolean {
  const secondsOf = (clock: WallClock) => clock.hour * 3600 + clock.minute * 60 + clock.second;
  return secondsOf(time) > secondsOf(floor);
}

function nextDate(year: number, month: number, day: number) {
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

function weekdayOf(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function ascending(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
