/**
 * The broker's sockets: listening (with the accept queue a reconnecting fleet needs) and what a TLS
 * handshake tells about the client.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import type { ConnectionMeta } from './packet-guard.js';

/** The port a server listens on; 0 before it does. */
export function portOf(server: net.Server | undefined): number {
  const addr = server?.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** Listens; a port in use is `CP_ERR_PORT_IN_USE` naming the setting `key` that chose it. */
export function listen(server: net.Server, port: number, host: string, key: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(
          new CitypipeError(
            ErrorCodes.PORT_IN_USE,
            `${key}: port ${port} on ${host} is already in use (another MQTT broker such as mosquitto?). Stop it or set ${key} to a free port.`,
            { cause: err },
          ),
        );
      } else reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // A fleet reconnecting at once (after a network outage) overflows Node's default accept queue
    // of 511; dropped handshakes then wait out TCP's retransmission backoff. The kernel caps this at
    // net.core.somaxconn (README "Security"). Measured in docs/BENCHMARKS.md (reconnect burst).
    server.listen({ port, host, backlog: LISTEN_BACKLOG });
  });
}

const LISTEN_BACKLOG = 4096;

/** What the TLS handshake says about the client: whether it presented a certificate, and whose. */
export function tlsMeta(socket: tls.TLSSocket): ConnectionMeta {
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  const cn = presented ? cert.subject?.CN : undefined;
  const err = socket.authorizationError as unknown;
  return {
    remoteAddress: socket.remoteAddress,
    tls: {
      authorized: presented && socket.authorized,
      presented,
      commonName: Array.isArray(cn) ? undefined : cn,
      error: err === null || err === undefined ? undefined : String(err),
    },
  };
}
