/**
 * Readings back from stored line protocol: the reader of what line-protocol.ts writes. The spool
 * keeps a message's points as the lines citypipe wrote; after a restart the rules stage needs the
 * readings of records it may not have evaluated before the stop, and this turns such a line back
 * into its device, district, fields and time. It reads only what `toLine` writes: tags `device_id`
 * and `district` (escaped `,`, ` `, `=`), float, `…i` integer and quoted string fields, a ms
 * timestamp.
 */

/** What one stored line holds of its reading (the type is its measurement's, known to the caller). */
export interface LineReading {
  readonly deviceId: string;
  readonly district: string;
  readonly timeMs: number;
  readonly fields: Readonly<Record<string, number | string>>;
}

/** Splits at `sep` where it is not backslash-escaped and (for fields) not inside a quoted string. */
function splitUnescaped(s: string, sep: string, quotes: boolean): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuotes = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (quotes && c === '"') inQuotes = !inQuotes;
    else if (c === sep && !inQuotes) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

const unescapeTag = (v: string): string => v.replace(/\\([, =])/g, '$1');

function fieldValue(raw: string): number | string | undefined {
  if (raw.startsWith('"')) return raw.slice(1, -1).replace(/\\(["\\])/g, '$1');
  const n = Number(raw.endsWith('i') ? raw.slice(0, -1) : raw);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * One stored line's reading, or undefined for a line it cannot read (it is then written to InfluxDB
 * as usual but not evaluated by the rules; the caller counts these).
 */
export function readingFromLine(line: string): LineReading | undefined {
  const parts = splitUnescaped(line, ' ', true);
  if (parts.length !== 3) return undefined;
  const [series = '', fieldText = '', time = ''] = parts;
  const tags = splitUnescaped(series, ',', false).slice(1);
  let deviceId: string | undefined;
  let district: string | undefined;
  for (const tag of tags) {
    const eq = splitUnescaped(tag, '=', false);
    if (eq.length !== 2) return undefined;
    const key = unescapeTag(eq[0]!);
    if (key === 'device_id') deviceId = unescapeTag(eq[1]!);
    else if (key === 'district') district = unescapeTag(eq[1]!);
  }
  const fields: Record<string, number | string> = {};
  for (const field of splitUnescaped(fieldText, ',', true)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return undefined;
    const value = fieldValue(field.slice(eq + 1));
    if (value === undefined) return undefined;
    fields[unescapeTag(field.slice(0, eq))] = value;
  }
  const timeMs = Number(time);
  if (deviceId === undefined || district === undefined || !Number.isSafeInteger(timeMs)) return undefined;
  return { deviceId, district, timeMs, fields };
}
