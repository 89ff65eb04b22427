-- A real store's data (issue 17): the shop's own ids, order fulfilment and tracking, checkouts,
-- tracked events, and the receipts of Shopify webhooks. The twin for PostgreSQL is
-- migrations/postgres/0011_store_data.sql.

-- The shop's id for a customer (Shopify's numeric id, or the events API's `customer_id`):
-- imports and webhooks upsert by it first, then by phone.
alter table customers add column external_id text;
create unique index customers_external_id on customers(external_id);
create index customers_email on customers(email);
-- The newest shop timestamp applied to the row (X-Shopify-Triggered-At or the record's
-- updated_at): an older payload never overwrites newer state.
alter table customers add column source_updated_at text;
-- When the shop asked to erase the customer (customers/redact): the row keeps only the phone,
-- which the consent ledger needs to keep honouring an opt-out.
alter table customers add column redacted_at text;

-- The shop's own id for an order (Shopify's numeric `id`; `external_id` is the order number a
-- customer quotes, e.g. "1001" for "#1001").
alter table orders add column source_id text;
create unique index orders_source_id on orders(source_id);
alter table orders add column fulfillment_status text;
alter table orders add column cancelled_at text;
alter table orders add column order_status_url text;
alter table orders add column checkout_token text;
alter table orders add column source_updated_at text;

-- Shipments of an order, newest last: what "where is my order?" is answered from.
create table fulfillments (
    id integer primary key,
    order_id integer not null references orders(id) on delete cascade,
    source_id text not null unique,
    status text,                -- pending | open | success | cancelled | error | failure
    shipment_status text,       -- label_printed | in_transit | out_for_delivery | delivered | failure | ...
    tracking_company text,
    tracking_number text,
    tracking_url text,
    estimated_delivery_at text,
    delivered_at text,
    created_at text not null,
    source_updated_at text
);
create index fulfillments_order on fulfillments(order_id, id);

-- Checkouts (Shopify checkouts/* topics, "Checkout Started" events): the cart a flow may
-- recover; completed when an order with the same token arrives.
create table checkouts (
    id integer primary key,
    token text not null unique,
    customer_id integer references customers(id),
    phone text,
    email text,
    recovery_url text,
    total_cents integer not null,
    currency text not null,
    items text not null,        -- JSON array of {sku, title, price_cents, quantity}
    completed_at text,
    created_at text not null,
    source_updated_at text
);

-- Tracked events from the events API and from Shopify topics, by their Segment-style name.
-- `event_id` is the sender's id: a repeated event is stored once.
create table events (
    id integer primary key,
    event_id text not null unique,
    name text not null,
    source text not null,       -- api | shopify
    customer_id integer references customers(id),
    phone text,
    email text,
    properties text not null,   -- JSON
    occurred_at text not null,
    received_at text not null
);
create index events_customer on events(customer_id, occurred_at);
create index events_name on events(name, occurred_at);

-- Shopify webhook deliveries, one row per X-Shopify-Webhook-Id: a duplicate delivery finds its
-- row and changes nothing. The body waits here for the queue and is cleared once processed.
create table shopify_webhooks (
    id integer primary key,
    webhook_id text not null unique,
    event_id text,
    topic text not null,
    shop_domain text,
    triggered_at text,
    body text,
    received_at text not null,
    processed_at text,
    outcome text
);
