-- The shop's own id of a product (Shopify's numeric product id): `products/delete` names a
-- product only by it, while the catalog's key is the sku (a Shopify product's Handle).
alter table products add column source_id text;
create unique index products_source_id on products(source_id);
