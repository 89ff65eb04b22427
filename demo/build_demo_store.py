#!/usr/bin/env python3
"""Build the bundled demo store ("Northwind Outfitters") for backtalk.

Reads the Kibana / OpenSearch Dashboards sample eCommerce orders data set
(ecommerce.json.gz, JSON lines, one order per line, Apache-2.0, synthetic)
and writes four JSONL files into demo/store/:

    catalog.jsonl    one product per distinct SKU
    customers.jsonl  the 60 customers with the most orders
    orders.jsonl     every order of those customers
    policies.jsonl   hand-written store policies (not derived from the data)

Usage (from the repository root):

    python3 demo/build_demo_store.py [path/to/ecommerce.json.gz] [--out DIR]

The script uses only the Python 3.11 standard library and is deterministic:
the same input always gives byte-identical output. See demo/README.md for the
transformation rules (date shift, EUR->USD relabel, phone numbers, ...).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = REPO_ROOT / ".." / "shared" / "data" / "ecommerce_orders" / "ecommerce.json.gz"
DEFAULT_OUT = Path(__file__).resolve().parent / "store"

# --- tunables ---------------------------------------------------------------
N_CUSTOMERS = 60
CATALOG_SIZE = 800  # customers' products + most-ordered others, up to this many
MAX_COMPLEMENTS = 3
NEWEST_ORDER_DATE = dt.date(2026, 11, 20)  # the newest order is shifted onto this day
PROCESSING_DAYS = 3  # ordered 0..2 days before NEWEST_ORDER_DATE -> "processing"
SHIPPED_DAYS = 7  # ordered 3..6 days before -> "shipped"; older -> "delivered"
AREA_CODES = ["415", "212", "305", "512", "312", "206"]  # CA, NY, FL, TX, IL, WA
DEMO_PHONE = "+14155550123"  # the number used in README / docs examples
CURRENCY = "USD"  # source prices are EUR; the demo store relabels them as USD

CLOTHING_SIZES = ["S", "M", "L", "XL"]
SHOE_SIZES = {
    "Men's Shoes": ["7", "8", "9", "10", "11", "12"],
    "Women's Shoes": ["5", "6", "7", "8", "9", "10"],
}


# --- helpers ----------------------------------------------------------------
class Money(float):
    """A float that is serialised with exactly two decimals."""


def dumps(obj) -> str:
    """json.dumps with Money rendered as e.g. 12.00 (not 12.0)."""
    if isinstance(obj, Money):
        return f"{float(obj):.2f}"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False)


_BROKEN_ESCAPE = re.compile(r"u00([0-9a-f]{2})")


def clean_text(s: str) -> str:
    """Trim, collapse whitespace, and repair the source's lost JSON escapes
    (e.g. "gru00fcn" -> "grün", "weiu00df" -> "weiß")."""
    s = _BROKEN_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)
    return re.sub(r"\s+", " ", s).strip()


def split_name(name: str) -> tuple[str, list[str]]:
    """'Basic T-shirt - dark blue/white' -> ('Basic T-shirt', ['dark blue', 'white']).

    The colour part is whatever follows the LAST ' - '. It is lower-cased and
    split on '/' and ','; pieces are trimmed (also of a stray '#'), empty
    pieces and repeats are dropped. Multi-word colours such as
    'grey multicolor' or 'navy blazer' stay one entry. Names without ' - '
    have no colours.
    """
    if " - " not in name:
        return name, []
    base, suffix = name.rsplit(" - ", 1)
    colors: list[str] = []
    for piece in re.split(r"[/,]", suffix.lower()):
        piece = piece.strip(" #")
        if piece and piece not in colors:
            colors.append(piece)
    return base.strip(), colors


def sizes_for(category: str) -> list[str]:
    if category in SHOE_SIZES:
        return list(SHOE_SIZES[category])
    if category.endswith("Clothing"):
        return list(CLOTHING_SIZES)
    return []  # accessories


def stock_for(sku: str) -> int:
    """Deterministic pseudo-random stock: 0 for 10% of SKUs, else 1..40."""
    h = int(hashlib.sha1(sku.encode("utf-8")).hexdigest()[:8], 16)
    if h % 10 == 0:
        return 0
    return 1 + (h // 10) % 40


def join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    if len(words) == 2:
        return f"{words[0]} and {words[1]}"
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def describe(base: str, colors: list[str], brand: str, category: str) -> str:
    """One or two plain sentences built only from the product's own fields."""
    what = base.replace(" - ", " ").lower()
    what = what[:1].upper() + what[1:]
    s = what
    if colors:
        s += f" in {join_words(colors)}"
    if brand:
        s += f" from {brand}"
    return f"{s}. Part of our {category.lower()} range."


def clean_person_name(name: str) -> str:
    """Trim and capitalise name parts that start lower-case ('rania Tran' -> 'Rania Tran')."""
    return " ".join(t[:1].upper() + t[1:] for t in name.split())


def clean_email(email: str) -> str:
    """Make the source's addresses syntactically valid: lower-case, spaces in the
    local part become '.', no leading/trailing/double dots
    ('wilhemina st.@strickland-family.zzz' -> 'wilhemina.st@strickland-family.zzz')."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = re.sub(r"\s+", ".", local.strip())
    local = re.sub(r"\.{2,}", ".", local).strip(".")
    return f"{local}@{domain}"


def parse_ts(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).astimezone(dt.timezone.utc)


# --- policies (hand-written for the fictional store; not from the data set) --
# Only these money amounts appear: $50, $5.95, $14.95.
POLICIES = [
    {
        "id": "shipping",
        "title": "Shipping",
        "body": (
            "We ship to addresses in the United States only. Standard shipping takes "
            "3-5 business days and is free on orders over $50; otherwise it costs $5.95. "
            "Express shipping takes 1-2 business days and costs $14.95. "
            "Delivery times are counted from the day your order ships."
        ),
        "tags": ["shipping", "delivery", "express", "cost"],
    },
    {
        "id": "returns",
        "title": "Returns and refunds",
        "body": (
            "You can return items within 30 days of delivery as long as they are unworn "
            "and still have their tags attached. Every return comes with a free return "
            "label. Once we receive your return, we refund the original payment method "
            "within 5-7 business days."
        ),
        "tags": ["returns", "refund", "return label"],
    },
    {
        "id": "exchanges",
        "title": "Exchanges",
        "body": (
            "If something doesn't fit or you'd prefer another color, you can exchange it "
            "for a different size or color of the same item free of charge within 30 days "
            "of delivery. The item must be unworn with its tags attached. "
            "Exchanges depend on the size or color you want being in stock."
        ),
        "tags": ["exchanges", "size", "color"],
    },
    {
        "id": "order_status",
        "title": "Order status",
        "body": (
            "To check on an order, text us your order number and we'll tell you where it "
            "is. An order is \"processing\" while we prepare it, \"shipped\" once it has "
            "left our warehouse, and \"delivered\" when it has arrived. "
            "You can also ask us by email."
        ),
        "tags": ["order status", "tracking", "order number"],
    },
    {
        "id": "sizing",
        "title": "Sizing",
        "body": (
            "Clothing comes in sizes S, M, L and XL, and shoes come in whole US sizes. "
            "Available sizes are listed on each product. Fit can differ between brands, "
            "so if you are between sizes, compare with an item you already own that fits "
            "well. If the size isn't right, you can exchange it free within 30 days of delivery."
        ),
        "tags": ["sizing", "size guide", "fit"],
    },
    {
        "id": "contact",
        "title": "Contact and hours",
        "body": (
            "Our customer service team is available Monday to Friday, 9:00 to 18:00 "
            "Eastern Time. You can text us here, email support@northwind.example, or call "
            "us toll-free at 1-800-555-0199. Messages sent outside these hours are answered "
            "on the next business day."
        ),
        "tags": ["contact", "hours", "phone", "email", "human"],
    },
    {
        "id": "price_adjustments",
        "title": "Price adjustments and price matching",
        "body": (
            "We don't adjust the price of an order after it has been placed, including when "
            "an item goes on sale later. We also don't match prices from other stores."
        ),
        "tags": ["price adjustment", "price match", "sale"],
    },
    {
        "id": "payment_methods",
        "title": "Payment methods",
        "body": (
            "We accept Visa, Mastercard, American Express, Discover and PayPal. "
            "For your security, we will never ask for your card number or password "
            "by text message."
        ),
        "tags": ["payment", "cards", "paypal", "security"],
    },
]


# --- build ------------------------------------------------------------------
def load_orders(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build(src: Path, out: Path) -> dict:
    rows = load_orders(src)

    # Customers are keyed by (full name, email); 60 with the most orders,
    # ties broken by name (case-insensitive), then email.
    by_customer: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    for r in rows:
        by_customer[(r["customer_full_name"], r["email"])].append(r)
    ranked = sorted(
        by_customer,
        key=lambda k: (-len(by_customer[k]), k[0].casefold(), k[0], k[1]),
    )[:N_CUSTOMERS]

    chosen_orders = [r for k in ranked for r in by_customer[k]]

    # Date shift: a whole number of days, so that the newest chosen order
    # falls on NEWEST_ORDER_DATE; times of day are kept.
    newest = max(parse_ts(r["order_date"]) for r in chosen_orders)
    offset = dt.timedelta(days=(NEWEST_ORDER_DATE - newest.date()).days)

    def status_for(ts: dt.datetime) -> str:
        age = (NEWEST_ORDER_DATE - ts.date()).days
        if age < PROCESSING_DAYS:
            return "processing"
        if age < SHIPPED_DAYS:
            return "shipped"
        return "delivered"

    # The DEMO_PHONE customer: the highest-ranked customer whose orders cover
    # all three statuses (handy for README examples); the rest are spread
    # round-robin over AREA_CODES with 555-0100, -0101, ... per area code.
    def statuses(k):
        return {status_for(parse_ts(r["order_date"]) + offset) for r in by_customer[k]}

    demo_key = next(
        (k for k in ranked if statuses(k) == {"processing", "shipped", "delivered"}),
        ranked[0],
    )
    phone_of: dict[tuple[str, str], str] = {demo_key: DEMO_PHONE}
    next_xx = {ac: 0 for ac in AREA_CODES}
    i = 0
    for k in ranked:
        if k == demo_key:
            continue
        ac = AREA_CODES[i % len(AREA_CODES)]
        i += 1
        phone = f"+1{ac}55501{next_xx[ac]:02d}"
        next_xx[ac] += 1
        assert phone != DEMO_PHONE
        phone_of[k] = phone

    # Products: one per SKU; per-SKU fields are constant in the source.
    products: dict[str, dict] = {}
    line_count: collections.Counter[str] = collections.Counter()
    for r in rows:
        for p in r["products"]:
            sku = p["sku"]
            line_count[sku] += 1
            if sku not in products:
                products[sku] = p

    wanted = []
    seen = set()
    for r in chosen_orders:
        for p in r["products"]:
            if p["sku"] not in seen:
                seen.add(p["sku"])
                wanted.append(p["sku"])
    for sku, _ in sorted(line_count.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(wanted) >= CATALOG_SIZE:
            break
        if sku not in seen:
            seen.add(sku)
            wanted.append(sku)

    def unit_price(p: dict) -> Money:
        return Money(round(float(p.get("base_unit_price", p["price"])), 2))

    # Complements: the products most often bought in the same order as this one, over
    # every order of the source (not only the demo customers'), best first, at most
    # MAX_COMPLEMENTS; ties broken by sku.
    in_catalog = set(wanted)
    together: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in rows:
        skus = sorted({p["sku"] for p in r["products"]} & in_catalog)
        for a in skus:
            for b in skus:
                if a != b:
                    together[a][b] += 1

    def complements_for(sku: str) -> list[str]:
        ranked_pairs = sorted(together[sku].items(), key=lambda kv: (-kv[1], kv[0]))
        return [other for other, _ in ranked_pairs[:MAX_COMPLEMENTS]]

    catalog = []
    for sku in sorted(wanted):
        p = products[sku]
        title = clean_text(p["product_name"])
        base, colors = split_name(title)
        brand = clean_text(p.get("manufacturer") or "")
        category = clean_text(p["category"])
        catalog.append(
            {
                "sku": sku,
                "title": title,
                "brand": brand,
                "category": category,
                "price": unit_price(p),
                "currency": CURRENCY,
                "colors": colors,
                "sizes": sizes_for(category),
                "stock": stock_for(sku),
                "description": describe(base, colors, brand, category),
                "complements": complements_for(sku),
            }
        )

    customers = [
        {
            "phone": phone_of[k],
            "name": clean_person_name(k[0]),
            "email": clean_email(k[1]),
            "timezone": None,
            "consent": "opted_in",
        }
        for k in ranked
    ]

    orders = []
    for k in ranked:
        for r in by_customer[k]:
            ts = parse_ts(r["order_date"]) + offset
            orders.append(
                {
                    "order_id": str(r["order_id"]),
                    "phone": phone_of[k],
                    "ordered_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "status": status_for(ts),
                    "items": [
                        {
                            "sku": p["sku"],
                            "title": clean_text(p["product_name"]),
                            "price": unit_price(p),
                            "quantity": int(p["quantity"]),
                        }
                        for p in r["products"]
                    ],
                }
            )
    orders.sort(key=lambda o: (o["ordered_at"], o["order_id"]))

    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, items: list[dict]) -> None:
        with open(out / name, "w", encoding="utf-8", newline="\n") as f:
            for item in items:
                f.write(dumps(item) + "\n")

    write("catalog.jsonl", catalog)
    write("customers.jsonl", customers)
    write("orders.jsonl", orders)
    write("policies.jsonl", POLICIES)

    return {
        "source_orders": len(rows),
        "catalog": len(catalog),
        "with_complements": sum(1 for p in catalog if p["complements"]),
        "customers": len(customers),
        "orders": len(orders),
        "order_items": sum(len(o["items"]) for o in orders),
        "policies": len(POLICIES),
        "date_offset_days": offset.days,
        "demo_customer": clean_person_name(demo_key[0]),
        "statuses": dict(collections.Counter(o["status"] for o in orders)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", default=str(DEFAULT_INPUT), help="ecommerce.json.gz")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default demo/store)")
    args = ap.parse_args(argv)
    stats = build(Path(args.input), Path(args.out))
    for k, v in stats.items():
        print(f"{k}: {v}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
