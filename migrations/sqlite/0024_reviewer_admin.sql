-- Reviewers as an admin manages them (docs/reviewers.md): a role, an email address for
-- notifications, a team to assign escalations to, and disabling instead of deleting (the
-- audit trail keeps pointing at the account). The first reviewer of an existing install
-- becomes its admin, so someone can open the admin page.
-- The twin for the other database is migrations/postgres/0024_reviewer_admin.sql.
alter table reviewers add column role text not null default 'reviewer' check (role in ('admin', 'reviewer'));
alter table reviewers add column email text;
alter table reviewers add column team text;
alter table reviewers add column disabled_at text;
update reviewers set role = 'admin' where id = (select min(id) from reviewers);

-- An escalation assigned to a team rather than to one person.
alter table escalations add column assigned_team text;

-- Notifications to reviewers (escalation::notify): one row per thing to tell. A
-- high-priority escalation is told at once (`pending` with a job); a normal one `waits` for
-- the next digest, which claims the waiting rows (`batched`, with the digest's id) and is a
-- row of its own. An assignment is told at once to the assignee.
create table notifications (
    id integer primary key,
    kind text not null check (kind in ('escalation', 'digest', 'assigned')),
    escalation_id integer references escalations(id),
    digest_id integer references notifications(id),
    assignee text,              -- for `assigned`: `reviewer:NAME` or `team:NAME`
    status text not null check (status in ('waiting', 'pending', 'batched', 'sent', 'failed', 'skipped')),
    last_error text,
    created_at text not null,
    sent_at text
);
create index notifications_waiting on notifications (status, kind, id);
create index notifications_digest on notifications (digest_id);

-- Each channel (email, slack) a notification reached, so a retry after one channel failed
-- does not tell the others twice.
create table notification_sends (
    notification_id integer not null references notifications(id),
    channel text not null,
    sent_at text not null,
    primary key (notification_id, channel)
);
