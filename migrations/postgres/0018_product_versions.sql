-- The newest change applied to each Shopify product (its X-Shopify-Triggered-At), and whether
-- it was a delete: a retried older products/update, or one arriving after the delete, changes
-- nothing. The twin for the other database is migrations/sqlite/0018_product_versions.sql.
create table product_versions (
    source_id text primary key,
    source_updated_at timestamptz not null,
    deleted integer not null
);
