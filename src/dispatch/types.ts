/**
 * What flows into and out of the rules stage. The stage shares these types with whatever wires it,
 * never its code.
 */
import type { DeviceRecord } from '../catalog/types.js';
import type { RuleRole } from './rules/schema.js';

/** A validated reading, after it is durably stored. */
export interface RuleInput {
  /** Device type name, as in the topic. */
  readonly type: string;
  readonly deviceId: string;
  /** From the catalog. */
  readonly district: string;
  /** Device time, epoch ms: the reading's `ts` (or its receive time when it had none). */
  readonly timeMs: number;
  /** Epoch ms when the broker took the message. */
  readonly receivedAt: number;
  /** The reading's fields (no `ts`). */
  readonly fields: Readonly<Record<string, number | string>>;
}

/** The catalog, as the rules stage needs it. */
export interface DeviceLookup {
  get(id: string): DeviceRecord | undefined;
}

/** The catalog as a whole, for what watches every device (the deadman). */
export interface DeviceList extends DeviceLookup {
  all(): Iterable<DeviceRecord>;
}

/**
 * A rule changed state for a device. Consumers (tickets, Open311, MQTT `city/events/…`, InfluxDB
 * `events`) receive these in the order they happened, a batch at a time.
 *
 * Ticket policy this is designed for: open a ticket on `raised` when `serviceCode` is set, unless the
 * event is `late` and carries `clearedAt` (the backlog already shows the condition over); close it on
 * `cleared`. At most one open ticket per (device, rule): a second `raised` for an open one (a flapping
 * notice, the end of flapping while still raised) updates it.
 */
export interface RuleEvent {
  /** Rule id, e.g. `waste.collect`. */
  readonly rule: string;
  /** Open311 `service_code` of a ticket rule; absent for an event-only rule. */
  readonly serviceCode?: string;
  readonly deviceId: string;
  readonly district: string;
  readonly type: string;
  readonly severity: 'info' | 'warning' | 'urgent';
  readonly state: 'raised' | 'cleared';
  /**
   * Device time (epoch ms) of the reading that decided it. A deadman `raised` has no reading: it is
   * the sweep's clock; its `cleared` is the receive time of the reading that ended the silence.
   */
  readonly at: number;
  /** For a raise after a `for` duration: device time the condition began. */
  readonly since?: number;
  /** The deciding field's value. */
  readonly value?: number | string;
  /** One line for humans: `Collect a full waste bin: fillingLevel 0.85 ≥ 0.8`. */
  readonly message: string;
  /** The reading was older than the late threshold when it was evaluated (a backlog, a stored batch). */
  readonly late: boolean;
  /** True: the rule is flapping and held raised; false: it stopped flapping (this event says where it settled). */
  readonly flapping?: boolean;
  /** Set on a `raised` whose `cleared` came in the same evaluation: device time of that clear. */
  clearedAt?: number;
}

/** A (device, rule) that is raised now; for consumers reconciling after a restart. */
export interface ActiveAlert {
  readonly deviceId: string;
  readonly rule: string;
  /** Device time it was raised (for `silent` rules: the sweep's clock). */
  readonly since: number;
  readonly value: number | string | undefined;
  readonly flapping: boolean;
  /** The role its rule plays (`offline`: the device is offline), if any. */
  readonly role?: RuleRole;
}

/** Where events go. Called after the state that produced them is committed. */
export type EventSink = (events: readonly RuleEvent[]) => void;
