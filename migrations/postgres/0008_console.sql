-- The console's queue sorts and pages in SQL: priority and SLA due time become columns
-- (they were only inside `details`), and the texts attached to an escalation are counted
-- by index.
alter table escalations add column priority text not null default 'normal' check (priority in ('high', 'normal'));
alter table escalations add column sla_due timestamptz;
update escalations set priority = coalesce(details::jsonb ->> 'priority', 'normal'),
                       sla_due = coalesce((details::jsonb ->> 'sla_due')::timestamptz, created_at);
-- 'high' sorts before 'normal', so this index gives the queue its order without a sort.
create index escalations_queue on escalations(status, priority, sla_due, id);
create index escalations_reason on escalations(status, reason);
create index turns_escalation on turns(escalation_id);

-- API tokens for `/api/v1`, each belonging to a reviewer so API actions are recorded as
-- theirs. Only the token's SHA-256 is stored.
create table reviewer_api_tokens (
    token_hash text primary key,
    reviewer_id bigint not null references reviewers(id),
    label text not null,
    created_at timestamptz not null,
    last_used_at timestamptz
);
