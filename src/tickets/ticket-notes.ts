/**
 * The `status_notes` a rule event writes on its ticket, shared by the SQLite and the PostgreSQL
 * ticket stores so that a ticket reads the same whichever keeps it.
 */
import type { RuleEvent } from '../dispatch/types.js';
import { iso } from './open311-view.js';

/** A further raise of an open ticket: a flapping notice, the end of flapping, or a raise again. */
export function raisedAgainNotes(e: RuleEvent): string {
  if (e.flapping === true) return `Flapping since ${iso(e.at)}: ${e.message}`;
  if (e.flapping === false) return `Stopped flapping at ${iso(e.at)}, still raised: ${e.message}`;
  return `Raised again at ${iso(e.at)}: ${e.message}`;
}

/** The clear that closes a ticket. */
export function clearedNotes(e: RuleEvent): string {
  const what = e.flapping === false ? 'stopped flapping and cleared' : 'cleared';
  return `Closed automatically: rule ${e.rule} ${what} at ${iso(e.at)}: ${e.message}`;
}

/** A ticket opened while its rule flaps. */
export function openedNotes(e: RuleEvent): string | null {
  return e.flapping ? `Flapping since ${iso(e.at)}: held open until the rule is stable` : null;
}
