/** Tickets and transitions for delivery tests. */
import type { Open311Request, TicketTransition, TransitionKind } from '../types.js';

export function ticket(id: string, overrides: Partial<Open311Request> = {}): Open311Request {
  return {
    service_request_id: id,
    status: 'open',
    status_notes: null,
    service_code: 'waste.collect',
    service_name: 'Collect waste bin',
    description: 'fillingLevel 0.86 ≥ 0.8',
    requested_datetime: '2026-11-28T10:00:00.000Z',
    updated_datetime: '2026-11-28T10:00:00.000Z',
    lat: 52.52,
    long: 13.405,
    address: 'Alexanderplatz 1, Berlin',
    device_id: 'bin-0042',
    rule: 'waste-bin.full',
    ...overrides,
  };
}

/** opened (seq 1), updated (seq 2), closed (seq 3) of one ticket. */
export function lifecycle(id: string, at = Date.parse('2026-11-28T10:00:00.000Z')): TicketTransition[] {
  const kinds: TransitionKind[] = ['opened', 'updated', 'closed'];
  return kinds.map((transition, i) => ({
    ticket: ticket(id, {
      status: transition === 'closed' ? 'closed' : 'open',
      status_notes: transition === 'updated' ? 'crew on the way' : transition === 'closed' ? 'collected' : null,
      updated_datetime: new Date(at + i * 60_000).toISOString(),
    }),
    transition,
    seq: i + 1,
    at: at + i * 60_000,
  }));
}
