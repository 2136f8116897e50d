/**
 * Which lines of a refused write InfluxDB's own message points at, so that InfluxWriter can set
 * them apart in a request or two instead of bisecting a batch down to single lines (a 1,000-line
 * batch beyond a retention policy cost 1,999 requests that way).
 *
 * What the messages say, as InfluxDB 1.x words them (2.x wraps the same words in its 422 message,
 * "failure writing points to database: partial write: …"):
 * - `partial write: points beyond retention policy dropped=N`: InfluxDB drops every point older than
 *   now − the policy's duration, so the refused points are the N oldest of the request.
 * - `partial write: field type conflict: input field "f" on measurement "m" is type float, already
 *   exists as type integer dropped=N`: lines of `m` that carry `f` as a float.
 * - `unable to parse '<line>': <reason>` (one per line, newline-separated; behind `partial write:`
 *   when other lines were written): the lines themselves.
 * - Any other `… dropped=N`: only how many, which tells the writer something when N is every line.
 *
 * A message tells less than it seems: InfluxDB 1.x reports only the first failing shard's error, and
 * a write error hides the parse errors of the same request. So the group found here is a guess the
 * writer checks: it sends the group and the rest as requests of their own, and InfluxDB's answers
 * to those decide. This module only reads; it never decides that a line was refused.
 *
 * Runs only after a refusal, never for a write that succeeded.
 */

/** A refusal, read from InfluxDB's message. */
export type Refusal =
  | { readonly cause: 'retention'; readonly dropped: number }
  | {
      readonly cause: 'field-type';
      readonly dropped: number | undefined;
      readonly measurement: string;
      readonly field: string;
      /** The line-protocol kind InfluxDB refused: `float`, `integer`, `string`, `boolean`, `unsigned`. */
      readonly kind: string;
    }
  | {
      readonly cause: 'unparsable';
      readonly dropped: number | undefined;
      /** Each line InfluxDB could not parse → its words about that line. */
      readonly lines: ReadonlyMap<string, string>;
    }
  | { readonly cause: 'other'; readonly dropped: number | undefined };

/** The lines a refusal points at, by index into the lines it was read against (ascending). */
export interface RefusedLines {
  readonly indexes: readonly number[];
  /**
   * InfluxDB's words about each of them (aligned with `indexes`) when it named every one of them on
   * its own, which makes them certain; undefined when the group is inferred from a count or a kind.
   */
  readonly messages: readonly string[] | undefined;
}

const DROPPED = / ?\bdropped=(\d+)\s*$/;
const RETENTION = /\bpoints beyond retention policy\b/;
const FIELD_TYPE = /\bfield type conflict: input field "(.*?)" on measurement "(.*?)" is type (\w+), already exists as type \w+/;
const TIMESTAMP = /^-?\d+$/;
const UNPARSABLE = "unable to parse '";

/** Reads what `message` (InfluxDB's own, as the sinks pass it on) says about the refused lines. */
export function readRefusal(message: string): Refusal {
  const d = DROPPED.exec(message);
  const dropped = d ? Number(d[1]) : undefined;
  if (dropped !== undefined && RETENTION.test(message)) return { cause: 'retention', dropped };
  const f = FIELD_TYPE.exec(message);
  if (f) return { cause: 'field-type', dropped, field: unescapeKey(f[1]!), measurement: unescapeKey(f[2]!), kind: f[3]! };
  if (message.includes(UNPARSABLE)) {
    const lines = new Map<string, string>();
    for (const part of message.split('\n')) {
      // The first part may follow "partial write: ", the last carries " dropped=N".
      const at = part.indexOf(UNPARSABLE);
      if (at < 0) continue;
      const said = part.slice(at).replace(DROPPED, '');
      // A reason never contains "': " and a line may, so the last one ends the line.
      const end = said.lastIndexOf("': ");
      if (end < UNPARSABLE.length) continue;
      lines.set(said.slice(UNPARSABLE.length, end), said);
    }
    if (lines.size > 0) return { cause: 'unparsable', dropped, lines };
  }
  return { cause: 'other', dropped };
}

/**
 * The lines among `lines` (each one line of line protocol, in request order) that `refusal` points
 * at; undefined when it points at none of them, or gives only a count.
 */
export function pickRefused(refusal: Refusal, lines: readonly string[]): RefusedLines | undefined {
  let indexes: number[];
  let messages: string[] | undefined;
  switch (refusal.cause) {
    case 'retention':
      indexes = oldest(lines, refusal.dropped);
      break;
    case 'field-type':
      indexes = [];
      for (let i = 0; i < lines.length; i++) {
        if (fieldKind(lines[i]!, refusal.measurement, refusal.field) === refusal.kind) indexes.push(i);
      }
      break;
    case 'unparsable':
      indexes = [];
      messages = [];
      for (let i = 0; i < lines.length; i++) {
        const said = refusal.lines.get(lines[i]!);
        if (said === undefined) continue;
        indexes.push(i);
        messages.push(said);
      }
      break;
    case 'other':
      return undefined;
  }
  return indexes.length > 0 ? { indexes, messages } : undefined;
}

/** Indexes of the `n` lines with the oldest timestamps, ascending; a line without one counts as newest (InfluxDB stamps it now). */
function oldest(lines: readonly string[], n: number): number[] {
  if (n <= 0) return [];
  const times = lines.map((line) => {
    const time = line.slice(line.lastIndexOf(' ') + 1);
    return TIMESTAMP.test(time) ? Number(time) : Infinity;
  });
  const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  return order.slice(0, n).sort((a, b) => a - b);
}

/**
 * The line-protocol kind of `field` in `line` when the line is of `measurement`, else undefined.
 * Reads the shape line-protocol.ts writes (`measurement,tags fields time`, backslash escapes in
 * names, double-quoted strings), which is the general line protocol.
 */
export function fieldKind(line: string, measurement: string, field: string): string | undefined {
  const n = line.length;
  let i = 0;
  let name = '';
  for (; i < n; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < n) name += line[++i];
    else if (c === ',' || c === ' ') break;
    else name += c;
  }
  if (name !== measurement) return undefined;
  for (; i < n && line[i] !== ' '; i++) if (line[i] === '\\') i++; // the tags
  i++;
  while (i < n) {
    let key = '';
    for (; i < n && line[i] !== '='; i++) key += line[i] === '\\' && i + 1 < n ? line[++i] : line[i];
    const start = ++i;
    if (line[i] === '"') {
      for (i++; i < n && line[i] !== '"'; i++) if (line[i] === '\\') i++;
      i++;
    } else {
      while (i < n && line[i] !== ',' && line[i] !== ' ') i++;
    }
    if (key === field) return valueKind(line.slice(start, i));
    if (line[i] !== ',') return undefined;
    i++;
  }
  return undefined;
}

const BOOLEAN = /^(?:t|T|true|True|TRUE|f|F|false|False|FALSE)$/;

/** The kind InfluxDB gives a field value, in its own words; undefined for none (a line it cannot parse). */
function valueKind(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.startsWith('"')) return 'string';
  if (value.endsWith('i')) return 'integer';
  if (value.endsWith('u')) return 'unsigned';
  if (BOOLEAN.test(value)) return 'boolean';
  return 'float';
}

/** InfluxDB may print a name with its line-protocol escapes; compare names without them. */
function unescapeKey(key: string): string {
  return key.replace(/\\([,= \\])/g, '$1');
}
