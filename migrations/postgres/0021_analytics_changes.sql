-- A change to a day's counts (an attributed order, a late click or delivery report) no longer
-- deletes its roll-up: it counts up `changes`, and the roll-up is not used until it is counted
-- again. The background refresher (analytics::summary::refresh) finds the changed days by it,
-- and a roll-up counted while a change arrived is not stored over it (docs/analytics.md, "How
-- the summary stays fast"). A row with empty counts is a change to a day never rolled up. The
-- twin for the other database is migrations/sqlite/0021_analytics_changes.sql.
alter table analytics_days add column changes bigint not null default 0;
create index analytics_days_changes on analytics_days (changes);
