-- Campaigns to segments (docs/campaigns.md). The twin for the other database is
-- migrations/postgres/0017_campaigns.sql; they differ only in types.

-- Segments defined through the API (`PUT /api/v1/segments/{name}`); files in `segments.dir`
-- are read from the folder. `definition` is the segment as JSON.
create table segments (
    name text primary key,
    definition text not null,
    updated_at text not null
);

-- A campaign: its definition as sent (JSON), its state and the figures of its plan.
create table campaigns (
    id integer primary key,
    name text not null unique,
    segment text not null,
    definition text not null,
    -- planning: its recipients are being written; scheduled: planned, nothing handed over yet;
    -- sending; paused; cancelled; done.
    status text not null check (status in ('planning', 'scheduled', 'sending', 'paused', 'cancelled', 'done')),
    -- Messages per second handed to the provider.
    rate double precision not null,
    members integer not null,
    planned integer not null,
    total_segments integer not null,
    estimated_cost double precision not null,
    created_at text not null,
    updated_at text not null
);

-- One row per member of the segment when the campaign was created: planned with its send
-- time, or skipped with the reason; queued once handed to the sender (its outbox row).
create table campaign_recipients (
    id integer primary key,
    campaign_id integer not null references campaigns(id),
    customer_id integer,
    phone text not null,
    status text not null check (status in ('planned', 'queued', 'skipped', 'cancelled')),
    reason text,
    -- When the text may go (ms since the epoch); null when skipped.
    send_at_ms integer,
    arm text,
    segments integer not null,
    outbox_id integer
);
-- What the dispatcher reads: a campaign's planned texts in order of time.
create index campaign_recipients_due on campaign_recipients (campaign_id, status, send_at_ms);

-- Segments over purchase history look up a customer's orders.
create index orders_customer on orders (customer_id, ordered_at);
