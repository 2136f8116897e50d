/**
 * The hooks of a broker cluster (CONTRACT §8), in the request and response format of EMQX 5's HTTP
 * authenticator and HTTP authorizer (docs "Use HTTP Service", EMQX 5.8):
 *
 * - `POST /api/broker/authenticate` with the body template
 *   `{"clientid": "${clientid}", "username": "${username}", "password": "${password}", "peerhost": "${peerhost}"}`
 *   answers `{"result": "allow" | "deny", "is_superuser": false}`;
 * - `POST /api/broker/authorize` with
 *   `{"clientid": "${clientid}", "username": "${username}", "topic": "${topic}", "action": "${action}"}`
 *   answers `{"result": "allow" | "deny" | "ignore"}`.
 *
 * Both need `Authorization: Bearer <CITYPIPE_BROKER_AUTH_TOKEN>` (security.ts): they tell whether a
 * device secret is right. Anything but a 200 (a refused token, a body that is not the template) is
 * "ignore" to EMQX, which then asks the next source of its chain or refuses.
 */
import type { FastifyInstance } from 'fastify';
import type { AuthenticateQuestion, AuthorizeQuestion, BrokerHooks } from '../security/broker-hooks.js';

export interface BrokerAuthRouteDeps {
  hooks: Pick<BrokerHooks, 'authenticate' | 'authorize'>;
}

export const BROKER_AUTHENTICATE_PATH = '/api/broker/authenticate';
export const BROKER_AUTHORIZE_PATH = '/api/broker/authorize';

/** MQTT strings are at most 65,535 bytes; the body limit (security.ts) bounds the whole request. */
const mqttString = (description: string) => ({ type: 'string', maxLength: 65_535, description }) as const;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const refusals = { 400: errorSchema, 401: errorSchema, 429: errorSchema } as const;

export function registerBrokerAuthRoutes(app: FastifyInstance, deps: BrokerAuthRouteDeps): void {
  app.post<{ Body: AuthenticateQuestion }>(
    BROKER_AUTHENTICATE_PATH,
    {
      config: { bearer: 'broker' },
      schema: {
        summary: 'Broker cluster (EMQX HTTP authenticator): is this client the device or account it says it is?',
        body: {
          type: 'object',
          required: ['clientid', 'username', 'password'],
          properties: {
            clientid: mqttString('${clientid}'),
            username: mqttString('${username}: a device id or an account name'),
            password: mqttString('${password}'),
            peerhost: { type: 'string', maxLength: 64, description: '${peerhost}: counted against CITYPIPE_MQTT_IP_CONNECT_RATE' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              result: { type: 'string', enum: ['allow', 'deny'] },
              is_superuser: { type: 'boolean', description: 'always false: every client is held to its topics' },
            },
            required: ['result', 'is_superuser'],
          },
          ...refusals,
        },
      },
    },
    async (req) => ({ result: await deps.hooks.authenticate(req.body), is_superuser: false }),
  );

  app.post<{ Body: AuthorizeQuestion }>(
    BROKER_AUTHORIZE_PATH,
    {
      config: { bearer: 'broker' },
      schema: {
        summary: 'Broker cluster (EMQX HTTP authorizer): may this client publish to or subscribe to this topic?',
        body: {
          type: 'object',
          required: ['username', 'topic', 'action'],
          properties: {
            clientid: mqttString('${clientid}'),
            username: mqttString('${username}'),
            topic: { type: 'string', minLength: 1, maxLength: 65_535, description: '${topic}: a topic, or a topic filter' },
            action: { type: 'string', enum: ['publish', 'subscribe'], description: '${action}' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { result: { type: 'string', enum: ['allow', 'deny', 'ignore'], description: 'ignore: not a client citypipe knows' } },
            required: ['result'],
          },
          ...refusals,
        },
      },
    },
    async (req) => ({ result: deps.hooks.authorize(req.body) }),
  );
}
