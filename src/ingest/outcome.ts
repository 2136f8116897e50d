/**
 * What one PUBLISH turned into: the points to write and the dead letters to keep. The pipeline
 * decides this before the message is acknowledged and stores it in the spool as one record, so:
 * - what is replayed after a crash is byte-for-byte what would have been written (the receive time
 *   and any receive-time stamps are fixed at append: InfluxDB point identity is measurement + tags +
 *   time, so a replay overwrites the same points instead of adding new ones);
 * - dead letters are as durable as readings: they leave the spool only once the dead-letter store
 *   has them.
 *
 * Encoding (hot path: one record per PUBLISH): a record holding only points, the common case, is
 * text: `P <type>\t<deviceId>\t<receivedAt>\t<topic>` then one line of line protocol per point,
 * newline-separated (line protocol cannot contain a raw newline: tags come from the catalog, which
 * refuses them, and string fields are enums). Anything with dead letters is `J` + JSON.
 */
import type { DeadLetter, ValidReading } from './types.js';

export interface OutcomePoint {
  /** Line protocol, ms precision. */
  readonly line: string;
}

/** The decided fate of one message. */
export interface Outcome {
  readonly topic: string;
  readonly receivedAt: number;
  /** Device type and id of the points (one device per topic); empty strings when there are none. */
  readonly type: string;
  readonly deviceId: string;
  readonly lines: readonly string[];
  readonly deadLetters: readonly DeadLetter[];
  /**
   * In memory only, never encoded: the validated readings behind `lines` and the device's district,
   * for consumers that act on readings once they are stored (the rules stage). A decoded record has
   * neither; `parseLine` recovers them from `lines`.
   */
  readonly readings?: readonly ValidReading[];
  readonly district?: string;
}

const POINTS = 0x50; // 'P'
const JSON_RECORD = 0x4a; // 'J'
const NEWLINE = 0x0a;
const TAB = 0x09;

export function encodeOutcome(o: Outcome): Buffer {
  if (o.deadLetters.length === 0 && o.lines.length > 0) {
    return Buffer.from(`P${o.type}\t${o.deviceId}\t${o.receivedAt}\t${o.topic}\n${o.lines.join('\n')}`, 'utf8');
  }
  const { readings: _r, district: _d, ...stored } = o;
  return Buffer.concat([Buffer.from([JSON_RECORD]), Buffer.from(JSON.stringify(stored), 'utf8')]);
}

export function decodeOutcome(buf: Buffer): Outcome {
  const kind = buf[0];
  if (kind === POINTS) {
    const text = buf.toString('utf8', 1);
    const nl = text.indexOf('\n');
    const [type = '', deviceId = '', receivedAt = '0', ...topicParts] = text.slice(0, nl).split('\t');
    return {
      type,
      deviceId,
      receivedAt: Number(receivedAt),
      topic: topicParts.join('\t'),
      lines: nl === -1 ? [] : text.slice(nl + 1).split('\n'),
      deadLetters: [],
    };
  }
  if (kind === JSON_RECORD) return JSON.parse(buf.toString('utf8', 1)) as Outcome;
  throw new Error(`unknown spool record kind 0x${(kind ?? 0).toString(16)}`);
}

/** Where the lines of a points-only record are, for {@link readPointsRecord}. */
export interface PointsView {
  /** Device type of the points. */
  type: string;
  /** Offset of the first line; the lines run to the end of the record, newline-separated. */
  start: number;
  /** Number of lines. */
  count: number;
}

/**
 * Fills `out` for a points-only record (the common case) without decoding it: the lines stay the
 * bytes ingest encoded, for the writer to copy into a request body as they are. False for any other
 * record, which `decodeOutcome` reads.
 */
export function readPointsRecord(buf: Buffer, out: PointsView): boolean {
  if (buf[0] !== POINTS) return false;
  const nl = buf.indexOf(NEWLINE);
  const tab = buf.indexOf(TAB, 1);
  if (nl === -1 || tab === -1 || tab > nl) return false;
  out.type = buf.toString('utf8', 1, tab);
  out.start = nl + 1;
  out.count = weighOutcome(buf);
  return true;
}

/** Readings an outcome accounts for: each point and each dead letter is one. */
export function outcomeSize(o: Outcome): number {
  return o.lines.length + o.deadLetters.length;
}

/**
 * The number of readings an encoded record accounts for, without decoding it in full: the spool
 * uses it to report pending readings, including those recovered after a restart.
 */
export function weighOutcome(buf: Buffer): number {
  if (buf[0] === POINTS) {
    // Header line + one line per point: as many newlines as points.
    let n = 0;
    for (let i = buf.indexOf(NEWLINE); i !== -1; i = buf.indexOf(NEWLINE, i + 1)) n++;
    return n;
  }
  return outcomeSize(decodeOutcome(buf));
}
