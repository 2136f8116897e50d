/**
 * Dead-letter payloads: what a device sent, bounded in UTF-8 bytes and cut on a character boundary,
 * so that a dead letter shows the reading (or as much of it as fits) without letting one message
 * cost more than the limit to store.
 */

/** Ends a dead letter's `payload` that was cut to `maxDeadLetterPayloadBytes`. */
export const TRUNCATION_MARKER = '…[truncated]';

const MARKER_BYTES = Buffer.byteLength(TRUNCATION_MARKER);

/** A raw payload as dead-letter text: at most `max` UTF-8 bytes, marker included. */
export function deadLetterPayload(payload: Buffer, max: number): string {
  if (payload.length <= max) {
    const text = payload.toString('utf8');
    // Invalid UTF-8 decodes to U+FFFD, which is longer than the byte it replaces.
    return Buffer.byteLength(text) <= max ? text : truncateUtf8(text, max);
  }
  return truncateUtf8(payload.toString('utf8', 0, max), max, true);
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes including the marker, never inside a character. */
function truncateUtf8(text: string, maxBytes: number, alreadyCut = false): string {
  const bytes = Buffer.from(text, 'utf8');
  if (!alreadyCut && bytes.length <= maxBytes) return text;
  // When even the marker does not fit, keep what fits: the limit is the promise.
  const marker = maxBytes >= MARKER_BYTES ? TRUNCATION_MARKER : '';
  let cut = Math.min(bytes.length, maxBytes - Buffer.byteLength(marker));
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut) + marker;
}

/** Literal JSON text on the serialiser's work stack, as opposed to a value still to be written. */
class Literal {
  constructor(readonly text: string) {}
}
const COMMA = new Literal(',');
const CLOSE_ARRAY = new Literal(']');
const CLOSE_OBJECT = new Literal('}');

/**
 * `JSON.stringify` for dead-letter payloads. It keeps an explicit stack, because `JSON.stringify`
 * recurses and throws a RangeError on a batch element nested 10,000 deep, and it stops once the
 * output passes `maxBytes`, so a huge element costs no more than the limit. Non-finite numbers are
 * written as `1e400` / `-1e400` (JSON.stringify would write `null`), so the payload shows what the
 * device sent and replays the same way.
 */
export function serialiseBounded(value: unknown, maxBytes: number): string {
  let text = '';
  const stack: unknown[] = [value];
  // UTF-8 needs at least one byte per UTF-16 unit, so past maxBytes units the cut is certain.
  while (stack.length > 0 && text.length <= maxBytes) {
    const v = stack.pop();
    if (v instanceof Literal) {
      text += v.text;
    } else if (Array.isArray(v)) {
      text += '[';
      stack.push(CLOSE_ARRAY);
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push(COMMA);
      }
    } else if (typeof v === 'object' && v !== null) {
      text += '{';
      stack.push(CLOSE_OBJECT);
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        stack.push((v as Record<string, unknown>)[key]);
        stack.push(new Literal(`${JSON.stringify(key)}:`));
        if (i > 0) stack.push(COMMA);
      }
    } else if (typeof v === 'number') {
      text += Number.isFinite(v) ? String(v) : v > 0 ? '1e400' : '-1e400';
    } else {
      // Strings, booleans and null: what JSON.parse can have produced.
      text += JSON.stringify(v) ?? 'null';
    }
  }
  return stack.length > 0 ? truncateUtf8(text, maxBytes, true) : truncateUtf8(text, maxBytes);
}
