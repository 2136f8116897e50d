/**
 * Where device messages come from: the embedded broker, where devices connect to citypipe (the
 * single node), or, with CITYPIPE_BROKER_URL, a worker's connections to a broker cluster (CONTRACT
 * §8). Either hands every message to ingest and acknowledges it only once it is in the spool, and
 * carries rule events back to MQTT subscribers. The service sees only this interface.
 */
import type { Identity } from '../broker/acl.js';

export interface ReadingSource {
  /** Devices may send from here on (the embedded broker listens; a worker connects). */
  start(): Promise<void>;
  /** Takes no new messages, answers those in flight (until `deadline`), and closes. */
  stop(deadline: number): Promise<void>;
  /** Publishes a rule event, QoS 1. */
  publish(topic: string, payload: string): Promise<void>;
  /** Why no message can arrive now (for `/readyz`); undefined while messages can. */
  readonly problem: string | undefined;
  /** Open MQTT connections (of devices and accounts, or of this worker). */
  readonly connections: number;
  /** Distinct catalog devices connected to citypipe itself (none through a cluster). */
  readonly connectedDevices: number;
  /** The catalog changed: sessions whose identity no longer holds end now (where citypipe holds them). */
  revalidate(keep: (identity: Identity) => boolean): void;
}
