-- A/B tests of a flow's text (docs/flows.md, "A/B tests"). The twin for the other database is
-- migrations/sqlite/0016_ab_tests.sql.

-- Which test and arm a text was sent in.
alter table outbox add column ab_test text;
alter table outbox add column ab_arm text;
create index outbox_ab on outbox (ab_test, ab_arm);

-- A test's winner once called (the gate passed, or the end date came): it never changes after.
create table ab_winners (
    test text primary key,
    arm text not null,
    -- `gate` (>= 500 recipients per arm and >= 90% win probability) or `end date`.
    reason text not null,
    decided_at timestamptz not null
);

-- What the flow engine looks up per event and per step: a number's events since a time (its
-- flows' exits) and its runs of a flow (entry limits, exits).
create index events_phone on events (phone, occurred_at);
create index flow_runs_phone on flow_runs (phone, flow, status);
