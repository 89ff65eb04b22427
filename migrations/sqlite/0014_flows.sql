-- Running flows (issue 18). The twin for the other database is migrations/postgres/0014_flows.sql;
-- they differ only in types.

-- One customer's pass through one flow, started by one event. A run waits between steps as a
-- job in the queue (kind `flow_step`, due at the end of the wait): nothing per customer is held
-- in the process.
create table flow_runs (
    id integer primary key,
    flow text not null,
    -- The stored event that started it (`events.id`): one run per flow and event.
    trigger_event integer not null references events(id),
    customer_id integer references customers(id),
    phone text not null,
    -- What the steps and the replies know: the trigger event's name and properties, the
    -- customer's name (JSON).
    context text not null,
    -- The index of the next step to run.
    step integer not null,
    -- waiting: a step is due; done: every step ran; exited: an exit event, an opt-out or the
    -- send window ended it; skipped: it never entered (entry limit, no phone).
    status text not null check (status in ('waiting', 'done', 'exited', 'skipped')),
    -- Why it exited or was skipped.
    reason text,
    -- When the next step is due (null unless waiting).
    due_at text,
    -- The reply menu of its latest text, while a reply may still choose from it (JSON).
    menu text,
    started_at text not null,
    updated_at text not null,
    unique (flow, trigger_event)
);
create index flow_runs_customer on flow_runs (customer_id, flow, started_at);
create index flow_runs_waiting on flow_runs (flow, status, step);

-- A flow's text knows its run and whether it is marketing: the sender holds a promotional
-- text to marketing consent and smart sending.
alter table outbox add column flow_run_id integer references flow_runs(id);
alter table outbox add column class text check (class in ('promotional', 'transactional'));
create index outbox_promotional on outbox (to_phone, class, sent_at);

-- The flow whose text the customer is answering: its context reaches the reply's facts.
alter table conversations add column flow_run_id integer references flow_runs(id);
alter table conversations add column flow_sent_at text;
