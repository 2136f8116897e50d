/**
 * The network servers' HTTP integrations (CONTRACT §7): ChirpStack v4's HTTP integration posts every
 * event to `POST /api/uplinks/chirpstack?event=up|status|log|…`; The Things Stack v3's webhook posts
 * uplinks to `POST /api/uplinks/tts`. Both need `Authorization: Bearer <CITYPIPE_UPLINK_TOKEN>`
 * (security.ts) and are answered 2xx only once what they carried is on disk, the same promise as a
 * PUBACK; a full spool answers 503 with Retry-After, and the server retries.
 *
 * The body is taken as bytes, unparsed: ingest parses it (uplink-ingest.ts), and a dead letter keeps
 * it exactly as the server sent it.
 */
import type { FastifyInstance } from 'fastify';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { DeadLetter, RawMessage } from '../ingest/types.js';
import { HTTP_CHIRPSTACK_PREFIX, HTTP_TTS_TOPIC } from '../pipeline/uplink-ingest.js';

export interface UplinkRouteDeps {
  /** Resolves once the message is on disk (ingest wiring's `takeUplink`). */
  take(msg: RawMessage): Promise<{ readings: number; deadLetters: readonly DeadLetter[] }>;
}

const EVENT = /^[a-z]{1,32}$/;
/** Reasons that mean the body is not what the server sends: answered 400 (still kept as a dead letter). */
const MALFORMED: ReadonlySet<string> = new Set(['invalid_json', 'invalid_uplink']);

const answerSchema = {
  200: {
    type: 'object',
    properties: {
      stored: { type: 'integer', description: 'readings stored (0 for events without one: status, join, a duplicate)' },
      deadLettered: { type: 'array', items: { type: 'object', properties: { reason: { type: 'string' }, path: { type: 'string' }, message: { type: 'string' } } } },
    },
  },
};

export function registerUplinkRoutes(app: FastifyInstance, deps: UplinkRouteDeps): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => {
      const err = new CitypipeError(ErrorCodes.HTTP_UNSUPPORTED_MEDIA, 'send JSON (Content-Type: application/json); in ChirpStack set the HTTP integration\'s payload encoding to JSON');
      (err as Error & { statusCode?: number }).statusCode = 415;
      done(err, undefined);
    });

    const take = async (topic: string, body: unknown, reply: import('fastify').FastifyReply) => {
      const payload = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
      const msg: RawMessage = { topic, payload, receivedAt: Date.now(), clientId: 'http', username: undefined };
      let result: Awaited<ReturnType<UplinkRouteDeps['take']>>;
      try {
        result = await deps.take(msg);
      } catch (err) {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ statusCode: 503, code: (err as CitypipeError).code ?? ErrorCodes.SPOOL_FULL.code, error: 'Service Unavailable', message: `not stored, retry: ${(err as Error).message}` });
      }
      const deadLettered = result.deadLetters.map((d) => ({ reason: d.reason, path: d.path, message: d.message }));
      const malformed = deadLettered.find((d) => MALFORMED.has(d.reason));
      if (malformed) {
        return reply.code(400).send({ statusCode: 400, code: ErrorCodes.UPLINK_INVALID.code, error: 'Bad Request', message: `${malformed.reason}: ${malformed.message} (kept as a dead letter)` });
      }
      return reply.code(200).send({ stored: result.readings, deadLettered });
    };

    scope.post<{ Querystring: { event?: string } }>(
      '/api/uplinks/chirpstack',
      {
        config: { bearer: 'uplink' },
        schema: {
          summary: 'ChirpStack v4 HTTP integration: one event (JSON encoding), answered once on disk',
          querystring: { type: 'object', properties: { event: { type: 'string', description: 'up, status, log, join, ack, txack, location, integration' } }, required: ['event'] },
          response: answerSchema,
        },
      },
      async (req, reply) => {
        const event = req.query.event ?? '';
        if (!EVENT.test(event)) return reply.code(400).send({ statusCode: 400, code: ErrorCodes.UPLINK_INVALID.code, error: 'Bad Request', message: `event: expected a ChirpStack event name such as up, got ${JSON.stringify(event.slice(0, 40))}` });
        return take(`${HTTP_CHIRPSTACK_PREFIX}${event}`, req.body, reply);
      },
    );

    scope.post(
      '/api/uplinks/tts',
      {
        config: { bearer: 'uplink' },
        schema: { summary: 'The Things Stack v3 webhook: one ApplicationUp message, answered once on disk', response: answerSchema },
      },
      async (req, reply) => take(HTTP_TTS_TOPIC, req.body, reply),
    );
  });
}
