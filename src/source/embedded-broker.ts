/**
 * The single node's source: the embedded broker (src/broker/), which devices connect to. It
 * authenticates them, holds them to their topics and limits, and acknowledges a PUBLISH once ingest
 * has it in the spool.
 */
import type { Identity } from '../broker/acl.js';
import { MqttBroker, type BrokerOptions } from '../broker/broker.js';
import type { ReadingSource } from './source.js';

export class EmbeddedBrokerSource implements ReadingSource {
  readonly broker: MqttBroker;

  constructor(opts: BrokerOptions) {
    this.broker = new MqttBroker(opts);
  }

  start(): Promise<void> {
    return this.broker.start();
  }

  stop(): Promise<void> {
    return this.broker.stop();
  }

  publish(topic: string, payload: string): Promise<void> {
    return this.broker.publish(topic, payload, { qos: 1 });
  }

  get problem(): string | undefined {
    return this.broker.listening ? undefined : 'MQTT broker is not listening';
  }

  get connections(): number {
    return this.broker.connectedClients;
  }

  get connectedDevices(): number {
    return this.broker.connectedDevices;
  }

  revalidate(keep: (identity: Identity) => boolean): void {
    this.broker.revalidate(keep);
  }
}
