-- Foundation schema (SQLite). The twin for the other database is migrations/postgres/0001_foundation.sql.
-- The two differ only in types: SQLite keeps timestamps as TEXT and integers as INTEGER,
-- PostgreSQL uses TIMESTAMPTZ and BIGINT. Timestamps are bound from Rust as UTC; job
-- scheduling uses integer milliseconds so that "due" comparisons are numeric on both.

-- People who text us, known from the CRM import or created as leads on first contact.
create table customers (
    id integer primary key,
    phone text not null unique,
    name text,
    email text,
    timezone text,
    created_at text not null
);

-- Orders from the CRM, for order status and purchase-history context.
create table orders (
    id integer primary key,
    customer_id integer not null references customers(id),
    external_id text not null unique,
    ordered_at text not null,
    status text not null,
    total_cents integer not null,
    currency text not null
);

-- Line items of an order.
create table order_items (
    id integer primary key,
    order_id integer not null references orders(id) on delete cascade,
    sku text not null,
    title text not null,
    price_cents integer not null,
    quantity integer not null
);
create index order_items_order on order_items(order_id);

-- The catalog's source of truth for facts (price, stock); the search index points here.
create table products (
    sku text primary key,
    title text not null,
    brand text not null,
    category text not null,
    price_cents integer not null,
    currency text not null,
    colors text not null,       -- JSON array of strings
    sizes text not null,        -- JSON array of strings
    stock integer not null,
    description text not null,
    updated_at text not null
);

-- Store policies (shipping, returns, ...) given to the model as facts.
create table policies (
    id text primary key,
    title text not null,
    body text not null,
    tags text not null          -- JSON array of strings
);

-- The consent ledger: every change is an event; the current state is the latest event.
-- `hold`: a message that may be an opt-out; nothing proactive until a person decides.
create table consent_events (
    id integer primary key,
    phone text not null,
    kind text not null check (kind in ('opt_in', 'opt_out', 'hold')),
    source text not null,
    evidence_message_id integer,
    evidence_text text,
    scope text not null,
    created_at text not null
);
create index consent_events_phone on consent_events(phone, id);

-- One thread per customer phone; `state` says whether the bot or a person owns it.
create table conversations (
    id integer primary key,
    phone text not null unique,
    customer_id integer references customers(id),
    state text not null check (state in ('bot', 'escalated')),
    created_at text not null,
    updated_at text not null
);

-- Every text in or out. The provider's message id is unique: webhook retries change nothing.
create table messages (
    id integer primary key,
    conversation_id integer not null references conversations(id),
    direction text not null check (direction in ('in', 'out')),
    provider_sid text unique,
    from_phone text not null,
    to_phone text not null,
    body text not null,
    created_at text not null
);
create index messages_conversation on messages(conversation_id, id);

-- One audit row per pipeline run: what went in, what came out, and why.
create table turns (
    id integer primary key,
    inbound_message_id integer not null unique references messages(id),
    conversation_id integer not null references conversations(id),
    decision text not null,
    intent text not null,
    retrieved text not null,    -- JSON
    prompt_version text not null,
    model text not null,
    prompt_tokens integer not null,
    completion_tokens integer not null,
    draft text,
    reply text,
    guard text not null,        -- JSON
    confidence double precision not null,
    sentiment double precision not null,
    stage_ms text not null,     -- JSON
    error text,
    created_at text not null
);

-- The durable job queue (turns to run, messages to send).
create table jobs (
    id integer primary key,
    kind text not null,
    payload text not null,      -- JSON
    unique_key text unique,
    status text not null check (status in ('queued', 'running', 'done', 'dead')),
    attempts integer not null,
    max_attempts integer not null,
    run_at_ms integer not null,
    lease_until_ms integer not null,
    last_error text,
    created_at text not null,
    updated_at text not null
);
create index jobs_due on jobs(status, run_at_ms);
create index jobs_lease on jobs(status, lease_until_ms);

-- Every outbound text is a row here before it is a provider call.
create table outbox (
    id integer primary key,
    conversation_id integer not null references conversations(id),
    to_phone text not null,
    body text not null,
    kind text not null,
    -- What a proactive text is about (frequency caps count per subject); null for replies.
    subject text,
    in_reply_to integer references messages(id),
    status text not null check (status in ('pending', 'sending', 'sent', 'delivered', 'failed', 'suppressed', 'unknown')),
    provider_sid text unique,
    error text,
    created_at text not null,
    sent_at text,
    unique (in_reply_to, kind)
);

-- Conversations handed to a person, with the reasons and the bot's draft.
create table escalations (
    id integer primary key,
    conversation_id integer not null references conversations(id),
    turn_id integer references turns(id),
    reason text not null,
    details text not null,      -- JSON
    status text not null check (status in ('open', 'resolved')),
    created_at text not null
);
create index escalations_open on escalations(status, id);

-- Delivery status callbacks from the provider, kept as received.
create table delivery_events (
    id integer primary key,
    provider_sid text not null,
    status text not null,
    error_code text,
    created_at text not null
);
