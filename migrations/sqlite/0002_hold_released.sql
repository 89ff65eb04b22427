-- A reviewer can decide that a possible opt-out was not one: the ledger records that as
-- `hold_released` (the consent state before the hold applies again). SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt with its rows and index.
create table consent_events_new (
    id integer primary key,
    phone text not null,
    kind text not null check (kind in ('opt_in', 'opt_out', 'hold', 'hold_released')),
    source text not null,
    evidence_message_id integer,
    evidence_text text,
    scope text not null,
    created_at text not null
);
insert into consent_events_new
    select id, phone, kind, source, evidence_message_id, evidence_text, scope, created_at from consent_events;
drop table consent_events;
alter table consent_events_new rename to consent_events;
create index consent_events_phone on consent_events(phone, id);
