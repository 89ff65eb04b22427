-- Fast recovery after a crash (issue 21): each running process heartbeats its row, and a job
-- records which process claimed it. Jobs held by a process whose heartbeat stopped are
-- released at once instead of after their lease (worker.lease_secs, 120 s). The twin for the
-- other database is migrations/sqlite/0028_instances.sql.
create table instances (
    id text primary key,
    heartbeat_ms bigint not null
);
alter table jobs add column claimed_by text;
create index jobs_claimed_by on jobs (claimed_by) where status = 'running';
