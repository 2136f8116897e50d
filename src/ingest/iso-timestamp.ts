/**
 * ISO 8601 timestamps as devices send them in `ts`. On the per-reading path (every reading with a
 * string `ts`), so it parses by hand instead of through a RegExp or `Date.parse`.
 */

/**
 * Parses `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or `±HH[:]MM` to epoch ms, checking
 * that the date exists (`Date.parse` rolls 2026-02-30 over to March 2 and accepts hour 24). Digits
 * of the fraction beyond milliseconds are dropped.
 *
 * @returns epoch ms, or `NaN` when the string is not such a timestamp.
 */
export function parseIsoTimestamp(s: string): number {
  const len = s.length;
  if (len < 17 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':') return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  let second = 0;
  let ms = 0;
  let i = 16;
  if (s[i] === ':') {
    second = digits(s, i + 1, 2);
    i += 3;
    if (s[i] === '.') {
      const start = ++i;
      while (i < len && isDigit(s.charCodeAt(i))) i++;
      if (i === start || i - start > 9) return NaN;
      ms = digits((s.slice(start, Math.min(i, start + 3)) + '00').slice(0, 3), 0, 3);
    }
  }
  let offsetMinutes = 0;
  const sign = s[i];
  if (sign === 'Z') {
    if (i + 1 !== len) return NaN;
  } else if (sign === '+' || sign === '-') {
    const offsetHours = digits(s, i + 1, 2);
    let j = i + 3;
    if (s[j] === ':') j++;
    const offsetMins = digits(s, j, 2);
    if (j + 2 !== len || !(offsetHours <= 23 && offsetMins <= 59)) return NaN;
    offsetMinutes = (sign === '+' ? 1 : -1) * (offsetHours * 60 + offsetMins);
  } else {
    return NaN;
  }
  // Written as negated conjunctions so that NaN (a non-digit) fails every one of them.
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month))) return NaN;
  if (!(hour <= 23 && minute <= 59 && second <= 59 && year >= 0)) return NaN;
  let utc: number;
  if (year >= 100) {
    utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  } else {
    // Date.UTC reads years 0..99 as 1900..1999.
    const d = new Date(0);
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, ms);
    utc = d.getTime();
  }
  return utc - offsetMinutes * 60_000;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The decimal number in `s[start, start + n)`, or NaN if any of those characters is not a digit. */
function digits(s: string, start: number, n: number): number {
  if (start + n > s.length) return NaN;
  let v = 0;
  for (let i = start; i < start + n; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return NaN;
    v = v * 10 + (c - 48);
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
