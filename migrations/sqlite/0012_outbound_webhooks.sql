-- Signed outbound webhooks (Standard Webhooks). The twin for the other database is
-- migrations/postgres/0012_outbound_webhooks.sql; they differ only in types.

-- The endpoints of `[[webhooks.endpoints]]`, mirrored at start-up (keyed by URL) so that a
-- 410 answer disables an endpoint for good (until re-enabled through the API) and deliveries
-- can name their endpoint. The secret stays in the configuration, never here.
create table webhook_endpoints (
    id integer primary key,
    url text not null unique,
    description text not null,
    -- 1 while the endpoint is in the configuration; 0 once removed from it (kept for history).
    configured integer not null,
    -- Set when the endpoint answered 410 Gone: it gets nothing until re-enabled.
    disabled_at text,
    disabled_reason text,
    created_at text not null,
    updated_at text not null
);

-- Which event types each endpoint wants (`*`: all).
create table webhook_subscriptions (
    endpoint_id integer not null references webhook_endpoints(id) on delete cascade,
    event_type text not null,
    primary key (endpoint_id, event_type)
);

-- Events, written in the transaction of the change they describe, so an event exists if and
-- only if its change committed. `payload` is the exact JSON sent (and signed) on every attempt.
create table outbound_events (
    id integer primary key,
    -- The `webhook-id` header: the consumer's idempotency key, the same on every retry.
    webhook_id text not null unique,
    event_type text not null,
    payload text not null,
    created_at text not null
);

-- One event to one endpoint, delivered by its own job.
create table webhook_deliveries (
    id integer primary key,
    event_id integer not null references outbound_events(id),
    endpoint_id integer not null references webhook_endpoints(id),
    status text not null check (status in ('pending', 'delivered', 'dead', 'skipped')),
    attempts integer not null,
    next_attempt_at text,
    last_error text,
    -- Why it was given up (dead) or not sent (skipped).
    reason text,
    created_at text not null,
    updated_at text not null,
    unique (event_id, endpoint_id)
);
create index webhook_deliveries_endpoint on webhook_deliveries(endpoint_id, status, id);

-- Every attempt: what the endpoint answered (or why there was no answer), for the API.
create table webhook_attempts (
    id integer primary key,
    delivery_id integer not null references webhook_deliveries(id),
    attempt integer not null,
    status_code integer,
    error text,
    duration_ms integer not null,
    created_at text not null
);
create index webhook_attempts_delivery on webhook_attempts(delivery_id, id);
