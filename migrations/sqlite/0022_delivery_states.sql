-- One set of delivery states for every provider (docs/delivery.md, domain::delivery): each
-- text's state as its provider's reports moved it (only forward); null until the first report.
-- The twin for the other database is migrations/postgres/0022_delivery_states.sql.
alter table outbox add column delivery_state text;

-- Numbers that failed permanently (a landline, an unknown handset: Twilio 30005/30006,
-- Telnyx 40001): no proactive text goes to them until a newer opt-in in the consent ledger.
create table suppressions (
    id integer primary key,
    phone text not null,
    code text not null,         -- the provider's error code that said so
    outbox_id integer,          -- the text whose report said so
    created_at text not null
);
create index suppressions_phone on suppressions (phone, id);

-- A provider's event id (Telnyx's `data.id`): its retries repeat it, and a report already
-- recorded is not applied twice. Null for Twilio's callbacks, which carry none.
alter table delivery_events add column event_id text;
create unique index delivery_events_event on delivery_events (event_id);
