-- The pictures and clips of an inbound MMS (issue 20; domain::media): what the provider said
-- about each, kept with its message and shown in the console. The files stay at the
-- provider. The twin for the other database is migrations/postgres/0023_message_media.sql.
create table message_media (
    id integer primary key,
    message_id integer not null references messages(id),
    url text not null,
    content_type text not null,  -- empty when the provider did not say
    size_bytes integer              -- Telnyx gives it; Twilio does not
);
create index message_media_message on message_media (message_id);
