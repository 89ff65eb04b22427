-- Analytics (docs/analytics.md): order attribution and daily roll-ups. The twin for the other
-- database is migrations/sqlite/0020_analytics.sql; they differ only in types.

-- The discount codes an order used (JSON array, null for none): a unique code sent in a text
-- attributes the order whatever the window.
alter table orders add column discount_codes text;
-- 1 while the order's attribution is to be (re)computed: set by every write of the order
-- (a late order, a cancellation, an update), cleared by the attribution pass.
alter table orders add column attribution_stale integer not null default 1;
create index orders_attribution_stale on orders (attribution_stale);
create index orders_ordered_at on orders (ordered_at);

-- The one text an order is attributed to (last touch), or no row.
create table attributions (
    order_id bigint primary key references orders(id) on delete cascade,
    outbox_id bigint not null references outbox(id),
    conversation_id bigint not null references conversations(id),
    -- code | click | reply | delivery
    touch text not null,
    touched_at timestamptz not null,
    -- The flow (`flow_runs.flow`; a campaign's is `campaign:{name}`) and A/B arm of the text.
    flow text,
    ab_test text,
    ab_arm text,
    revenue_cents bigint not null,
    ordered_at timestamptz not null,
    -- The order completed a checkout a flow texted about (a recovered checkout).
    recovered_checkout integer not null
);
create index attributions_ordered_at on attributions (ordered_at);
create index attributions_outbox on attributions (outbox_id);

-- One row per UTC day: the summary's counts for that day (docs/analytics.md, "How the summary
-- stays fast"), kept once the day is settled, used a few minutes before. A row is deleted when
-- something changes its day.
create table analytics_days (
    day text primary key,
    counts text not null,       -- JSON of analytics::Counts
    computed_at timestamptz not null
);

create index messages_created on messages (created_at, direction);
create index turns_created on turns (created_at);
create index outbox_sent on outbox (sent_at);
create index outbox_conversation on outbox (conversation_id, sent_at);
create index escalations_conversation on escalations (conversation_id, created_at);
create index escalations_created on escalations (created_at);
create index consent_events_created on consent_events (created_at, kind);
create index link_clicks_clicked on link_clicks (clicked_at);

-- Deliverability alerts (Klaviyo's thresholds over the last 7 days): one row per metric
-- while it is over its threshold; the outbound webhook event goes when the row is made.
create table analytics_alerts (
    metric text primary key,
    value double precision not null,
    threshold double precision not null,
    raised_at timestamptz not null
);
