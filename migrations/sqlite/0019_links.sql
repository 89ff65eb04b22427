-- Tracked links (docs/analytics.md): each link on an allowed host in a sent text gets a code;
-- `{public_url}/l/{code}` redirects to it and records the click. The twin for the other
-- database is migrations/postgres/0019_links.sql.
create table links (
    id integer primary key,
    code text not null unique,
    url text not null,
    outbox_id integer not null references outbox(id),
    created_at text not null,
    unique (outbox_id, url)
);
create table link_clicks (
    id integer primary key,
    link_id integer not null references links(id),
    clicked_at text not null,
    -- A link-preview fetcher (iMessage, WhatsApp, Slack…), not a person: kept, not counted.
    preview integer not null
);
create index link_clicks_link on link_clicks (link_id, clicked_at);
