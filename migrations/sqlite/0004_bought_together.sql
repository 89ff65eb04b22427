-- Products bought in the same order, computed from order_items at every CRM import: the
-- order-history half of "what goes with what I bought" (the catalog's own complements are
-- products.complements).
create table bought_together (
    sku text not null,
    other_sku text not null,
    orders integer not null,
    primary key (sku, other_sku)
);
