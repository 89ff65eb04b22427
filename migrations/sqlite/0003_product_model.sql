-- The full product model (issue 4): bullet points, sale price, variants (size, colour,
-- stock), tags, links and complements. Lists are JSON arrays, like colors and sizes.
alter table products add column bullets text not null default '[]';
alter table products add column sale_price_cents integer;
alter table products add column variants text not null default '[]';
alter table products add column tags text not null default '[]';
alter table products add column url text not null default '';
alter table products add column image_url text not null default '';
alter table products add column complements text not null default '[]';
