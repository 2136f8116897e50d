/**
 * Who may connect over MQTT, settled at start: the authenticator (catalog devices and configured
 * accounts) and the TLS listener's certificate, key and client CA. A start stops here, before
 * anything listens, on an account named like a catalog device or a TLS file it cannot read.
 */
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/config.js';
import type { TlsListenerOptions } from '../broker/broker.js';
import type { DeviceCatalog } from '../catalog/catalog.js';
import { CitypipeError, ErrorCodes } from '../errors/catalog.js';
import { Authenticator } from './authenticator.js';
import { publishedSecrets } from './published-secrets.js';

export interface Admission {
  authenticator: Authenticator;
  tls: TlsListenerOptions | undefined;
}

/**
 * `catalog` is read on every CONNECT (the service swaps in a new one when the files change).
 * `acceptPublishedSecrets`: only `citypipe demo` accepts the demo fleet's published secrets.
 */
export async function prepareAdmission(mqtt: Config['mqtt'], catalog: () => DeviceCatalog, acceptPublishedSecrets = false): Promise<Admission> {
  const authenticator = new Authenticator(catalog, mqtt.accounts, acceptPublishedSecrets ? new Set() : publishedSecrets());
  const clashes = authenticator.clashes(catalog());
  if (clashes.length > 0) {
    throw new CitypipeError(ErrorCodes.CONFIG_INVALID, `CITYPIPE_MQTT_ACCOUNTS: account ${clashes.join(', ')} has the id of a device in the catalog; rename the account`);
  }
  return { authenticator, tls: await readTlsListener(mqtt) };
}

async function readTlsListener(mqtt: Config['mqtt']): Promise<TlsListenerOptions | undefined> {
  const tls = mqtt.tls;
  if (!tls) return undefined;
  return {
    host: mqtt.host,
    port: tls.port,
    requireClientCert: tls.requireClientCert,
    cert: await readFile(tls.certFile),
    key: await readFile(tls.keyFile),
    clientCa: tls.caFile === undefined ? undefined : await readFile(tls.caFile),
  };
}
