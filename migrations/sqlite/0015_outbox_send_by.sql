-- A flow's text with `entry.send_within` must go by this time or not at all: the sender skips
-- it when quiet hours or caps would push it later. The twin for the other database is
-- migrations/postgres/0015_outbox_send_by.sql.
alter table outbox add column send_by text;
