-- A product's picture sent with a reply as MMS (docs/providers.md, Pictures), and how each
-- text was billed: `sms` by segments, `mms` as one message whatever its length (Twilio and
-- Telnyx price an MMS per message). `media_url` is what the turn asked to attach; the sender
-- clears it when the provider, the number or the picture's size rules MMS out, and says why
-- in `media_note`. The twin for the other database is migrations/postgres/0025_outbound_media.sql.
alter table outbox add column media_url text;
alter table outbox add column media_note text;
alter table outbox add column billed_as text check (billed_as in ('sms', 'mms'));
alter table outbox add column billed_units integer;

-- Per-sender throughput (docs/providers.md, "Throughput"): each sending number's next free
-- moment, in milliseconds, shared by every replica (one row, updated atomically per send);
-- and the slot a text was given, so a text deferred to its slot does not take a second one.
create table sender_pace (
    number text primary key,
    free_at_ms bigint not null
);
alter table outbox add column send_slot_ms bigint;
