-- Wrong passwords counted by the name typed, whether or not an account has it (issue 21): a
-- real name and an unknown one lock after the same number of tries, so the lock-out tells an
-- attacker nothing about which names exist. The twin for the other database is
-- migrations/sqlite/0026_login_failures.sql.
create table login_failures (
    name text primary key,      -- as typed, trimmed and lower-cased
    failed bigint not null default 0,
    locked_until timestamptz
);
