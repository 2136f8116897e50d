/**
 * The shared schema, one migration per version, applied in order at start (database.ts). A released
 * migration is never edited: a change is a new one at the end.
 *
 * Times are epoch ms (`bigint`), as in the SQLite stores, so rows read the same in both.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: dispatch state shared by every worker.
  `
  -- One row per device heard from or watched: the row a batch locks (FOR UPDATE) while it updates the
  -- device's rule state, so two workers never evaluate one device at once.
  CREATE TABLE cp_devices (
    device_id text PRIMARY KEY,
    last_seen bigint,
    watched_since bigint NOT NULL,
    latest jsonb
  );
  CREATE TABLE cp_rule_state (
    device_id text NOT NULL,
    rule text NOT NULL,
    status text NOT NULL,
    state jsonb NOT NULL,
    PRIMARY KEY (device_id, rule)
  );
  CREATE INDEX cp_rule_state_active ON cp_rule_state (device_id) WHERE status <> 'ok';

  CREATE TABLE tickets (
    id bigserial PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    status_notes text,
    service_code text NOT NULL,
    service_name text NOT NULL,
    description text NOT NULL,
    requested_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    closed_at bigint,
    closed_by text,
    lat double precision,
    long double precision,
    address text,
    device_id text NOT NULL,
    rule text NOT NULL,
    district text NOT NULL,
    severity text,
    seq integer NOT NULL,
    held boolean NOT NULL DEFAULT false
  );
  -- What makes "one open ticket per (device, rule)" hold across workers, whatever the code does.
  CREATE UNIQUE INDEX tickets_one_open ON tickets (device_id, rule) WHERE status = 'open';
  CREATE INDEX tickets_held ON tickets (device_id, rule) WHERE held;
  CREATE INDEX tickets_requested ON tickets (requested_at);

  CREATE TABLE delivery_messages (
    id bigserial PRIMARY KEY,
    idem_key text NOT NULL UNIQUE,
    ticket_id text NOT NULL,
    seq integer NOT NULL,
    transition text NOT NULL,
    occurred_at bigint NOT NULL,
    ticket jsonb NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE TABLE delivery_queue (
    message_id bigint NOT NULL REFERENCES delivery_messages (id) ON DELETE CASCADE,
    target text NOT NULL,
    ticket_id text NOT NULL,
    seq integer NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_at bigint NOT NULL,
    last_status integer,
    last_error text,
    remote_id text,
    created_at bigint NOT NULL,
    done_at bigint,
    -- A worker sending this row; others skip it until the lease ends (a worker that died).
    claimed_by text,
    claimed_until bigint,
    PRIMARY KEY (target, message_id)
  );
  CREATE INDEX delivery_queue_due ON delivery_queue (target, next_at) WHERE state = 'pending';
  CREATE INDEX delivery_queue_ticket ON delivery_queue (target, ticket_id, seq) WHERE state = 'pending';
  CREATE INDEX delivery_queue_done ON delivery_queue (state, done_at);
  CREATE TABLE delivery_remote_ids (
    ticket_id text NOT NULL,
    target text NOT NULL,
    remote_id text NOT NULL,
    kind text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (ticket_id, target)
  );

  CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at bigint NOT NULL,
    rule text NOT NULL,
    service_code text,
    device_id text NOT NULL,
    district text NOT NULL,
    type text NOT NULL,
    severity text NOT NULL,
    state text NOT NULL,
    value jsonb,
    message text NOT NULL,
    late boolean NOT NULL,
    flapping boolean,
    ticket_id text,
    transition text,
    influx_written boolean NOT NULL DEFAULT false,
    logged_at bigint NOT NULL
  );
  CREATE INDEX events_unwritten ON events (id) WHERE NOT influx_written;
  CREATE INDEX events_device ON events (device_id, id);

  CREATE TABLE collection_fill_samples (
    device_id text NOT NULL,
    time_ms bigint NOT NULL,
    level double precision NOT NULL,
    PRIMARY KEY (device_id, time_ms)
  );

  -- Every worker's dead letters: each is stored in the worker's own SQLite first (the spool releases
  -- its record only then) and moved here, keyed so that a move repeated after a crash adds nothing.
  CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY,
    origin text NOT NULL UNIQUE,
    worker text NOT NULL,
    received_at bigint NOT NULL,
    reason text NOT NULL,
    path text NOT NULL,
    message text NOT NULL,
    topic text NOT NULL,
    device_id text,
    type text,
    batch_index integer,
    payload text NOT NULL
  );
  CREATE INDEX dead_letters_reason ON dead_letters (reason, id);
  CREATE INDEX dead_letters_device ON dead_letters (device_id, id);

  -- Scheduled work that must happen once per slot across workers (the daily collection plan): the
  -- worker whose insert wins runs it.
  CREATE TABLE cp_job_runs (
    job text NOT NULL,
    slot bigint NOT NULL,
    worker text NOT NULL,
    at bigint NOT NULL,
    result jsonb,
    PRIMARY KEY (job, slot)
  );
  `,
];
