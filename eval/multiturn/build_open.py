#!/usr/bin/env python3
"""Build eval/multiturn/open.jsonl: the OPEN part of the multi-turn eval set (issue 16, item 9).

Deterministic, stdlib only. Run from anywhere:  python3 eval/multiturn/build_open.py

Phrasings are hand-written (shaped on the ABCD dialogues in ../shared/data/abcd: the customer
opens vaguely, clarifies, follows up, changes topic, thanks), adapted to SMS. Every product,
price, stock figure, size, colour, complement and order in an expectation is computed here from
demo/store/*.jsonl, so the expectations list every acceptable answer (e.g. all red blouses under
$25), not one arbitrary pick. Written before the rules; the author did not read src/.
"""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "demo" / "store"
OUT = Path(__file__).resolve().parent / "open.jsonl"


def load(name):
    with open(STORE / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CATALOG = load("catalog.jsonl")
BY_SKU = {p["sku"]: p for p in CATALOG}
ORDERS = load("orders.jsonl")
ORDER_BY_ID = {o["order_id"]: o for o in ORDERS}
CUSTOMERS = {c["phone"]: c for c in load("customers.jsonl")}
POLICIES = {p["id"]: p for p in load("policies.jsonl")}
TITLE_COUNT = defaultdict(int)
for _p in CATALOG:
    TITLE_COUNT[_p["title"]] += 1
REVERSE_COMPLEMENTS = defaultdict(set)
for _p in CATALOG:
    for _c in _p["complements"]:
        REVERSE_COMPLEMENTS[_c].add(_p["sku"])

# ---------------------------------------------------------------------------------------------
# catalog queries

TYPES = {
    # what a customer says -> regex over the product's kind (the title without its colour part)
    "blouse": r"\bblouse",
    "dress": r"\bdress\b",
    "sweater": r"\bjumper\b(?! dress)|\bcardigan\b|^wool$",  # sweater / jumper / pullover
    "jumper": r"\bjumper\b(?! dress)|^wool jumper$",
    "cardigan": r"\bcardigan\b",
    "winter coat": r"winter jacket|parka|down jacket|classic coat|short coat",
    "parka": r"\bparka\b",
    "sneakers": r"trainers|sports shoes",  # sneakers / trainers
    "pants": r"trousers|chinos",  # pants / trousers
    "purse": r"handbag|clutch|across body bag|tote bag|wallet|crossover strap bag",  # purse / bag
    "tote": r"tote bag",
    "watch": r"\bwatch\b",
    "jumpsuit": r"\bjumpsuit\b",
    "snood": r"\bsnood\b",
    "bow tie": r"bow tie",
    "blazer": r"\bblazer\b",
    "ankle boots": r"ankle boots",
    "boots": r"boots",
    "trainers": r"trainers",
    "winter jacket": r"winter jacket",
    "belt": r"^belt$|waist belt",
    "top": r"blouse|shirt|\btop\b|vest|jumper(?! dress)|sweatshirt|cardigan",
    "shoes": r"heels|sandals|pumps|slip-ons|lace-ups|trainers|boots|espadrilles|peep toes",
    "jacket": r"jacket|blazer|coat|parka|windbreaker",
    "t-shirt": r"t-shirt",
    "tights": r"\btights\b",
}


def kind(p):
    parts = p["title"].split(" - ")
    return " - ".join(parts[:-1]) if len(parts) > 1 else p["title"]


def has_colour(p, colour):
    pat = re.compile(r"\b%s\b" % re.escape(colour), re.I)
    return any(pat.search(c) for c in p["colors"]) or bool(pat.search(p["title"].split(" - ")[-1]))


def find(type_=None, colour=None, dept=None, lo=None, hi=None, size=None, in_stock=True, pool=None):
    out = []
    for p in (pool if pool is not None else CATALOG):
        if type_ and not re.search(TYPES[type_], kind(p), re.I):
            continue
        if colour and not has_colour(p, colour):
            continue
        if dept and not p["category"].startswith(dept):
            continue
        if lo is not None and p["price"] < lo:
            continue
        if hi is not None and p["price"] > hi:
            continue
        if size and size not in p["sizes"]:
            continue
        if in_stock and p["stock"] <= 0:
            continue
        out.append(p)
    assert out, (type_, colour, dept, lo, hi, size)
    return sorted(out, key=lambda p: p["sku"])


def cheapest(ps):
    m = min(p["price"] for p in ps)
    return [p for p in ps if p["price"] == m]


def dearest(ps):
    m = max(p["price"] for p in ps)
    return [p for p in ps if p["price"] == m]


def price(p):
    return "%.2f" % p["price"]


def names(ps, with_price=False):
    """Acceptable mentions for a set of products: every sku, plus a title when every catalog
    product carrying that title is in the set (a title shared with a product outside the set
    would not prove the answer right), plus the prices when asked."""
    skus = {p["sku"] for p in ps}
    out = [p["sku"] for p in ps]
    for p in ps:
        same = [q["sku"] for q in CATALOG if q["title"] == p["title"]]
        if all(s in skus for s in same) and p["title"] not in out:
            out.append(p["title"])
    if with_price:
        out += prices(ps)
    return out


def prices(ps):
    out = []
    for p in ps:
        if price(p) not in out:
            out.append(price(p))
    return out


def complements_of(sku, owned):
    """Complements of an owned item: its own list plus the products that list it, minus anything
    the customer owns; in-stock ones only (a good associate does not push a sold-out item)."""
    cands = (set(BY_SKU[sku]["complements"]) | REVERSE_COMPLEMENTS[sku]) - set(owned)
    ps = [BY_SKU[c] for c in sorted(cands) if BY_SKU[c]["stock"] > 0]
    assert ps, sku
    return ps


def colours_of_others(ps_type, exclude):
    cols = []
    for p in ps_type:
        if p["sku"] in exclude:
            continue
        for c in p["colors"]:
            if c.lower() not in [x.lower() for x in cols]:
                cols.append(c.lower())
    assert cols
    return cols


IN_STOCK = ["in stock", "available", "left", "we have"]
SOLD_OUT = ["sold out", "out of stock", "none left", "not in stock", "unavailable", "not available",
            "0 left", "no stock"]
NOT_SOLD_OUT = ["sold out", "out of stock", "unavailable", "not available", "not in stock"]
ES_IN_STOCK = ["disponible", "en stock", "hay", "quedan", "tenemos", "in stock", "available"]
ES_SOLD_OUT = ["agotad", "sin stock", "no hay", "no queda", "no está disponible", "no esta disponible",
               "sold out", "out of stock"]
BOT_WORDS = ["bot", "automated", "ai ", "a.i.", "virtual", "assistant", "artificial", "automatic",
             "not a person", "not a human"]
HUMAN_CLAIMS = ["i am a human", "i'm a human", "i am human", "i'm human", "i'm a real person",
                "i am a real person"]
SHIPPING = ["5.95", "$50", "50", "free"]
EXPRESS = ["14.95", "1-2", "1 to 2", "1–2"]
RETURNS = ["30 days", "30-day", "30 day", "30"]
REFUND_TIME = ["5-7", "5 to 7", "5–7"]
HOURS = ["9:00", "9am", "9 am", "18:00", "6pm", "6 pm", "monday", "mon"]
ES_HOURS = ["9:00", "18:00", "lunes", "9 a", "6 pm", "monday"]

SIZE_WORDS = {
    "S": ["small", "size s", "s-xl", "s to xl", "s, m", "s/m"],
    "M": ["medium", "size m", "s-xl", "s to xl", "s, m, l", "m, l"],
    "L": ["large", "size l", "s-xl", "s to xl", "m, l", "l, xl"],
    "XL": ["xl", "extra large", "extra-large"],
}
ES_SIZE_WORDS = {
    "S": ["talla s", "pequeña", "small", "s-xl", "s a xl", "s, m"],
    "M": ["talla m", "mediana", "medium", "s-xl", "s a xl", "s, m, l", "m, l"],
    "L": ["talla l", "grande", "large", "s-xl", "s a xl", "m, l"],
}


def shoe_size_words(n, sizes):
    lo, hi = sizes[0], sizes[-1]
    return ["size %s" % n, "sizes %s" % lo, "%s-%s" % (lo, hi), "%s to %s" % (lo, hi),
            "%s–%s" % (lo, hi), "talla %s" % n, "%s a %s" % (lo, hi)]


# ---------------------------------------------------------------------------------------------
# conversations

PHONES_USED = set()
_NEXT = {"415": 10, "212": 10, "305": 10}
_AREA_CYCLE = ["415", "212", "305"]
_area_i = [0]


def new_phone():
    """A fictional number +1AAA55501NN not held by a demo-store CRM customer and not used before."""
    for _ in range(400):
        area = _AREA_CYCLE[_area_i[0] % 3]
        _area_i[0] += 1
        nn = _NEXT[area]
        while nn <= 99:
            phone = "+1%s55501%02d" % (area, nn)
            nn += 1
            if phone not in CUSTOMERS and phone not in PHONES_USED:
                _NEXT[area] = nn
                PHONES_USED.add(phone)
                return phone
        _NEXT[area] = nn
    raise SystemExit("out of phone numbers")


FIRST_NAMES = ["Maya", "Jordan", "Luis", "Priya", "Tom", "Keisha", "Ana", "Ben", "Carmen", "Dev",
               "Erin", "Farah", "Gabe", "Hana", "Ivan", "Jess", "Kofi", "Lena", "Marco", "Nia",
               "Omar", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yara"]
_name_i = [0]


def new_customer(owned=(), dates=()):
    name = FIRST_NAMES[_name_i[0] % len(FIRST_NAMES)]
    _name_i[0] += 1
    orders = []
    for i, sku in enumerate(owned):
        p = BY_SKU[sku]
        orders.append({"sku": sku, "title": p["title"], "price": p["price"],
                       "ordered_at": dates[i] if i < len(dates) else "2026-10-%02d" % (3 + 4 * i)})
    c = {"phone": new_phone(), "name": name}
    if orders:
        c["orders"] = orders
    return c


def crm_customer(phone):
    """A demo-store CRM customer, with all their orders from orders.jsonl given inline (order id
    and status carried on each line item, consistent with orders.jsonl)."""
    assert phone not in PHONES_USED, phone
    PHONES_USED.add(phone)
    c = CUSTOMERS[phone]
    lines = []
    for o in ORDERS:
        if o["phone"] != phone:
            continue
        for it in o["items"]:
            lines.append({"sku": it["sku"], "title": it["title"], "price": it["price"],
                          "ordered_at": o["ordered_at"][:10], "order_id": o["order_id"],
                          "status": o["status"]})
    return {"phone": phone, "name": c["name"], "orders": lines}


def T(text, action="reply", mentions=None, not_contains=None, max_segments=None, no_facts=None,
      hand_back=False):
    e = {"action": action}
    if mentions:
        e["mentions_any"] = list(dict.fromkeys(mentions))
    if not_contains:
        e["not_contains"] = list(dict.fromkeys(not_contains))
    if max_segments:
        e["max_segments"] = max_segments
    if no_facts:
        e["no_facts"] = True
    t = {"in": text, "expect": e}
    if hand_back:
        t["hand_back_before"] = True
    return t


CONVS = []
COUNT = defaultdict(int)


def conv(pattern, customer, turns, extra_tags=()):
    assert len(turns) >= 3
    COUNT[pattern] += 1
    CONVS.append({"id": "open-%s-%02d" % (pattern, COUNT[pattern]), "customer": customer,
                  "turns": turns, "tags": ["multiturn", "open", pattern] + list(extra_tags)})


def small(text, **kw):
    return T(text, max_segments=2, **kw)


def stock_turn(text, ps, es=False):
    """'is it in stock?' about a set of focus products that all share one stock state."""
    states = {p["stock"] > 0 for p in ps}
    assert len(states) == 1, [p["sku"] for p in ps]
    if states.pop():
        return T(text, mentions=(ES_IN_STOCK if es else IN_STOCK),
                 not_contains=NOT_SOLD_OUT + (["agotad", "no hay", "sin stock"] if es else []))
    return T(text, mentions=(ES_SOLD_OUT if es else SOLD_OUT))


def size_turn(text, ps, size, es=False):
    assert all(size in p["sizes"] for p in ps) and all(p["stock"] > 0 for p in ps)
    if size.isdigit():
        words = shoe_size_words(size, ps[0]["sizes"])
    else:
        words = (ES_SIZE_WORDS if es else SIZE_WORDS)[size]
    return T(text, mentions=words, not_contains=NOT_SOLD_OUT)


# ---- 1. follow-ups that need the thread --------------------------------------------------------

def followups():
    red_blouses = find("blouse", "red")
    conv("followup", new_customer(), [
        T("hey do u have the red blouse", mentions=names(red_blouses)),
        T("how much is it?", mentions=prices(red_blouses)),
        size_turn("in a medium?", red_blouses, "M"),
        small("ok thanks"),
    ])

    parkas = find("parka")
    conv("followup", new_customer(), [
        T("hi im looking for a parka", mentions=names(parkas)),
        T("which one is the cheapest?", mentions=names(cheapest(parkas), with_price=True)),
        stock_turn("is the first one in stock?", parkas),
        small("thx"),
    ])

    blue_cardis = find("cardigan", "blue")
    all_cardis = find("cardigan")
    black_cardis = find("cardigan", "black")
    conv("followup", new_customer(), [
        T("do you have the cardigan in blue?", mentions=names(blue_cardis)),
        T("what other colours does it come in?",
          mentions=colours_of_others(all_cardis, {p["sku"] for p in blue_cardis})),
        T("how much is the black one", mentions=prices(black_cardis) + names(black_cardis)),
        small("great ty"),
    ])

    sold = BY_SKU["ZO0059900599"]
    assert sold["stock"] == 0
    other_black = [p for p in find("blouse", "black") if p["sku"] != sold["sku"]]
    conv("followup", new_customer(), [
        T("is ZO0059900599 in stock?", mentions=SOLD_OUT + ["ZO0059900599"]),
        T("oh no. do you have another black blouse then?", mentions=names(other_black)),
        T("how much is it?", mentions=prices(other_black)),
        small("ok cool"),
    ])

    jumpsuits = find("jumpsuit")
    cheap_js = cheapest(jumpsuits)
    conv("followup", new_customer(), [
        T("hi! do you sell jumpsuits", mentions=names(jumpsuits)),
        T("which one is cheapest?", mentions=names(cheap_js, with_price=True)),
        size_turn("does it come in XL?", cheap_js, "XL"),
        small("great thanks"),
    ])

    pink_tr = find("trainers", "pink")
    conv("followup", new_customer(), [
        T("do you have pink trainers?", mentions=names(pink_tr)),
        size_turn("in a size 8?", pink_tr, "8"),
        T("how much?", mentions=prices(pink_tr)),
        small("thanks!"),
    ])

    wj = BY_SKU["ZO0185001850"]  # Winter jacket - bordeaux
    black_wj = find("winter jacket", "black", in_stock=False)
    black_wj_in = [p for p in black_wj if p["stock"] > 0]
    conv("followup", new_customer(), [
        T("the winter jacket in bordeaux, is that still available?",
          mentions=names([wj]) + IN_STOCK, not_contains=NOT_SOLD_OUT),
        T("how much is it", mentions=[price(wj)]),
        size_turn("do you have it in a large", [wj], "L"),
        T("and in black?", mentions=names(black_wj_in) + SOLD_OUT + ["don't have", "do not have", "only"]),
    ])

    cognac_ab = find("ankle boots", "cognac")
    cheap_ab = cheapest(cognac_ab)
    conv("followup", new_customer(), [
        T("i'm after ankle boots in cognac", mentions=names(cognac_ab)),
        T("which is the cheapest one?", mentions=names(cheap_ab, with_price=True)),
        size_turn("do you have it in a 6?", cheap_ab, "6"),
        small("perfect thank you!!"),
    ])

    totes = find("tote")
    black_totes = find("tote", "black")
    conv("followup", new_customer(), [
        T("show me your tote bags", mentions=names(totes)),
        T("the black one, how much?", mentions=prices(black_totes) + names(black_totes)),
        stock_turn("is that one in stock?", black_totes),
        small("ok"),
    ])

    mint = BY_SKU["ZO0191801918"]  # Snood - mint
    snoods = find("snood")
    conv("followup", new_customer(), [
        T("do you have the snood in mint?", mentions=names([mint])),
        T("how much is it", mentions=[price(mint)]),
        T("does it come in other colours?", mentions=colours_of_others(snoods, {mint["sku"]})),
        small("cool thanks"),
    ])

    bowties = find("bow tie")
    black_bt = find("bow tie", "black")
    conv("followup", new_customer(), [
        T("looking for a bow tie for a wedding", mentions=names(bowties)),
        T("the black one", mentions=names(black_bt, with_price=True)),
        stock_turn("is it in stock?", black_bt),
        small("thx"),
    ])

    white_bl = BY_SKU["ZO0181901819"]
    coral_bl = BY_SKU["ZO0182101821"]
    conv("followup", new_customer(), [
        T("do you have the blazer in white?", mentions=names([white_bl])),
        T("what about coral?", mentions=names([coral_bl])),
        T("which one is cheaper?", mentions=prices(cheapest([white_bl, coral_bl])) + ["same price", "both"]),
        stock_turn("is the first one in stock?", [white_bl, coral_bl]),
    ])


# ---- 2. complements from purchase history -----------------------------------------------------

def complement_conv(owned, dates, turns_fn, pattern="complement", extra_tags=()):
    cust = new_customer(owned, dates)
    turns = turns_fn(cust)
    for t in turns:
        if t["expect"]["action"] == "reply" and "mentions_any" in t["expect"]:
            nc = t["expect"].setdefault("not_contains", [])
            for s in owned:
                if s not in nc:
                    nc.append(s)
    conv(pattern, cust, turns, extra_tags)


def complements():
    # the headline sentence
    owned = ["ZO0338903389"]  # Summer dress - june bug
    red_bl = [p for p in complements_of(owned[0], owned) if re.search(TYPES["blouse"], kind(p), re.I)
              and has_colour(p, "red")]
    complement_conv(owned, ["2026-10-12"], lambda c: [
        T("hi, I want a red blouse that goes with the summer dress I bought last time",
          mentions=names(red_bl)),
        T("how much is it?", mentions=prices(red_bl)),
        size_turn("do you have it in a small?", red_bl, "S"),
        small("ok great thanks"),
    ])

    owned = ["ZO0068400684", "ZO0249902499"]  # Cardigan - black/white, Boots - black
    comp = complements_of(owned[0], owned)
    complement_conv(owned, ["2026-11-02", "2026-11-02"], lambda c: [
        T("what goes with the cardigan I bought?", mentions=names(comp)),
        T("how much is that", mentions=prices(comp)),
        stock_turn("is it in stock", comp),
    ])

    owned = ["ZO0148401484"]  # Mini skirt - black
    tops = [p for p in complements_of(owned[0], owned) if re.search(TYPES["top"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-20"], lambda c: [
        T("hey what top would go with the black mini skirt i got", mentions=names(tops)),
        T("price?", mentions=prices(tops)),
        size_turn("in a medium?", tops, "M"),
        small("thank u"),
    ])

    owned = ["ZO0259902599"]  # Pencil skirt - light brown
    shoes = [p for p in complements_of(owned[0], owned) if re.search(TYPES["shoes"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-21"], lambda c: [
        T("which shoes would go with the skirt i bought?", mentions=names(shoes)),
        T("which one is cheaper", mentions=names(cheapest(shoes), with_price=True)),
        size_turn("do you have it in a 7?", cheapest(shoes), "7"),
        small("ok thx"),
    ])

    owned = ["ZO0528205282"]  # Chinos - tan
    jackets = [p for p in complements_of(owned[0], owned) if re.search(TYPES["jacket"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-28"], lambda c: [
        T("need a jacket to go with the chinos i bought", mentions=names(jackets)),
        T("which one's cheaper?", mentions=names(cheapest(jackets), with_price=True)),
        size_turn("in a large?", cheapest(jackets), "L"),
        small("cheers"),
    ])

    owned = ["ZO0177901779"]  # Cardigan - black
    dresses = [p for p in complements_of(owned[0], owned) if re.search(TYPES["dress"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-31"], lambda c: [
        T("what dress would go with my black cardigan from you guys?", mentions=names(dresses)),
        size_turn("is it in a small?", dresses, "S"),
        T("how much", mentions=prices(dresses)),
        small("lovely thanks"),
    ])

    owned = ["ZO0045400454"]  # Jersey dress - black
    under20 = [p for p in complements_of(owned[0], owned) if p["price"] < 20]
    complement_conv(owned, ["2026-11-09"], lambda c: [
        T("anything under $20 that goes with the jersey dress I bought?", mentions=names(under20)),
        T("which is the cheapest", mentions=names(cheapest(under20), with_price=True)),
        small("ok ty"),
    ])

    owned = ["ZO0332103321"]  # Shift dress - Lemon Chiffon
    blz = [p for p in complements_of(owned[0], owned) if re.search(TYPES["blazer"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-31"], lambda c: [
        T("do you have a blazer that would go with the dress i got last month", mentions=names(blz)),
        stock_turn("is it in stock?", blz),
        T("how much is it", mentions=prices(blz)),
        small("👍"),
    ])

    owned = ["ZO0425804258"]  # Slim fit jeans - blue denim (men's)
    comp = complements_of(owned[0], owned)
    complement_conv(owned, ["2026-11-01"], lambda c: [
        T("hi! what would go with the jeans I bought for my husband?", mentions=names(comp)),
        T("which one is the cheapest?", mentions=names(cheapest(comp), with_price=True)),
        stock_turn("is it in stock", cheapest(comp)),
        small("thanks so much"),
    ])

    owned = ["ZO0486604866", "ZO0164401644"]  # Trousers - multi, Vest - offwhite
    comp = complements_of(owned[0], owned)
    complement_conv(owned, ["2026-10-15", "2026-10-15"], lambda c: [
        T("what goes w the trousers i bought?", mentions=names(comp)),
        T("how much are they", mentions=prices(comp)),
        small("ok thanks, ill think about it"),
    ])

    owned = ["ZO0350003500"]  # Blouse - Pale Violet Red
    boots = [p for p in complements_of(owned[0], owned) if re.search(TYPES["boots"], kind(p), re.I)]
    complement_conv(owned, ["2026-10-08"], lambda c: [
        T("any boots that go with the blouse I bought?", mentions=names(boots)),
        T("the cheaper one pls, how much is it", mentions=names(cheapest(boots), with_price=True)),
        size_turn("in a 9?", cheapest(boots), "9"),
        small("ty"),
    ])

    owned = ["ZO0633306333"]  # Maxi skirt - blue
    tees = [p for p in complements_of(owned[0], owned) if re.search(TYPES["t-shirt"], kind(p), re.I)]
    complement_conv(owned, ["2026-11-09"], lambda c: [
        T("hiya, i bought the blue maxi skirt. what t-shirt goes with it?", mentions=names(tees)),
        T("how much is it", mentions=prices(tees)),
        size_turn("in XL?", tees, "XL"),
        small("ok thanks!"),
    ])


# ---- 3. query understanding ---------------------------------------------------------------------

def queries():
    dresses = find("dress")
    dresses_all = find("dress", in_stock=False)
    cheap_dress = cheapest(dresses)
    # a sold-out dress cheaper than every in-stock one would also be a fair answer if marked sold out
    cheaper_sold = [p for p in cheapest(dresses_all) if p["stock"] == 0]
    conv("query", new_customer(), [
        T("what's the cheapest dress you have?", mentions=names(cheap_dress + cheaper_sold, with_price=True)),
        size_turn("is it in a small?", cheap_dress, "S"),
        small("thanks"),
    ], ["superlative"])

    red_u25 = find("blouse", "red", hi=24.99)
    conv("query", new_customer(), [
        T("red blouses under $25?", mentions=names(red_u25)),
        T("which one is cheapest", mentions=names(cheapest(red_u25), with_price=True)),
        small("ok ty"),
    ], ["budget", "colour"])

    men_j = find("jumper", dept="Men's", lo=20, hi=40)
    men_j_navy = [p for p in men_j if has_colour(p, "navy") or has_colour(p, "blue")]
    conv("query", new_customer(), [
        T("need a gift for my husband, a jumper between 20 and 40 dollars", mentions=names(men_j)),
        T("anything in blue or navy?", mentions=names(men_j_navy)),
        T("how much is that one", mentions=prices(men_j_navy)),
        small("thanks!"),
    ], ["recipient", "budget", "synonym"])

    sweaters = find("sweater")
    men_sw = find("sweater", dept="Men's")
    conv("query", new_customer(), [
        T("do you have sweaters?", mentions=names(sweaters)),
        T("for men", mentions=names(men_sw)),
        T("cheapest one?", mentions=names(cheapest(men_sw), with_price=True)),
    ], ["synonym", "superlative"])

    coats = find("winter coat")
    w_coats = find("winter coat", dept="Women's", hi=60)
    conv("query", new_customer(), [
        T("need a winter coat", mentions=names(coats)),
        T("for women, under 60", mentions=names(w_coats)),
        T("is the cheapest one in a medium?", mentions=SIZE_WORDS["M"] + names(cheapest(w_coats)),
          not_contains=NOT_SOLD_OUT),
        small("ok"),
    ], ["synonym", "budget"])

    sn = find("sneakers", dept="Men's", size="10")
    sn_black = find("sneakers", "black", dept="Men's", size="10")
    conv("query", new_customer(), [
        T("sneakers for my son, he's a size 10", mentions=names(sn)),
        T("black ones?", mentions=names(sn_black)),
        T("how much", mentions=prices(sn_black)),
        small("thx"),
    ], ["synonym", "recipient", "size"])

    pants = find("pants", dept="Men's", hi=29.99)
    pants_black = find("pants", "black", dept="Men's", hi=29.99)
    conv("query", new_customer(), [
        T("mens pants for work under 30?", mentions=names(pants)),
        T("any in black", mentions=names(pants_black)),
        size_turn("in a large?", pants_black, "L"),
    ], ["synonym", "budget"])

    purses = find("purse", dept="Women's")
    purses15 = find("purse", dept="Women's", hi=14.99)
    conv("query", new_customer(), [
        T("do u have purses", mentions=names(purses)),
        T("something under 15?", mentions=names(purses15)),
        T("the cheapest one is fine, how much exactly?",
          mentions=names(cheapest(purses15), with_price=True)),
        small("thank you"),
    ], ["synonym", "budget", "superlative"])

    sold = BY_SKU["ZO0350003500"]
    instock = BY_SKU["ZO0172001720"]
    assert sold["stock"] == 0 and instock["stock"] > 0
    conv("query", new_customer(), [
        T("is ZO0350003500 in stock?", mentions=SOLD_OUT, not_contains=["ZO0172001720"]),
        T("ok what about ZO0172001720?", mentions=IN_STOCK, not_contains=NOT_SOLD_OUT),
        T("how much is that one", mentions=[price(instock)]),
        small("thanks"),
    ], ["sku_literal"])

    watches = find("watch")
    conv("query", new_customer(), [
        T("what's the most expensive watch you have?", mentions=names(dearest(watches), with_price=True)),
        T("and the cheapest?", mentions=names(cheapest(watches), with_price=True)),
        small("ok thanks"),
    ], ["superlative"])

    w_tr = find("trainers", "white", dept="Women's", size="6")
    w_tr30 = [p for p in w_tr if p["price"] < 30]
    conv("query", new_customer(), [
        T("white trainers for my daughter, size 6", mentions=names(w_tr)),
        T("under 30?", mentions=names(w_tr30)),
        T("ok which is cheapest", mentions=names(cheapest(w_tr30), with_price=True)),
    ], ["recipient", "colour", "size", "budget"])

    grey_j = find("jumper", "grey", dept="Women's", size="L")
    conv("query", new_customer(), [
        T("grey jumper for my wife, size L", mentions=names(grey_j)),
        T("which one is the cheapest?", mentions=names(cheapest(grey_j), with_price=True)),
        stock_turn("is it in stock", cheapest(grey_j)),
        small("great"),
    ], ["recipient", "colour", "size", "superlative"])


# ---- 4. small talk and the out-of-scope mid-thread ------------------------------------------------

def smalltalk():
    conv("smalltalk", new_customer(), [
        small("hi"),
        small("are you a bot?", mentions=BOT_WORDS, not_contains=HUMAN_CLAIMS),
        T("ok cool. how much is shipping?", mentions=SHIPPING),
        small("thanks"),
    ])

    yellow = BY_SKU["ZO0055000550"]  # Print T-shirt - spectra yellow
    conv("smalltalk", new_customer(), [
        T("do you have the print t-shirt in spectra yellow?", mentions=names([yellow])),
        small("hmm"),
        T("how much is it", mentions=[price(yellow)]),
    ])

    parka = BY_SKU["ZO0431204312"]  # Parka - khaki
    conv("smalltalk", new_customer(), [
        T("is the khaki parka in stock?", mentions=IN_STOCK + names([parka]), not_contains=NOT_SOLD_OUT),
        small("whats the weather tomorrow? need to know if i need it lol", no_facts=True),
        T("how much is it anyway", mentions=[price(parka)]),
    ])

    jd = BY_SKU["ZO0152401524"]  # Jersey dress - berry
    conv("smalltalk", new_customer(), [
        T("do u have the jersey dress in berry", mentions=names([jd])),
        small("👍"),
        size_turn("in a large?", [jd], "L"),
    ])

    conv("smalltalk", new_customer(), [
        T("what's your return policy?", mentions=RETURNS),
        small("lol ok"),
        T("do i have to pay for the return label", mentions=["free"]),
        small("ok"),
    ])

    conv("smalltalk", new_customer(), [
        small("hello"),
        small("who won the game last night?", no_facts=True),
        T("ok fine. do you ship express?", mentions=EXPRESS),
        small("thx"),
    ])

    belts = find("belt", "black", dept="Men's")
    conv("smalltalk", new_customer(), [
        T("looking for a black belt for men", mentions=names(belts)),
        small("also can you recommend a good restaurant near union square", no_facts=True),
        T("haha ok. which belt is cheapest", mentions=names(cheapest(belts), with_price=True)),
    ])

    conv("smalltalk", new_customer(), [
        small("hey"),
        small("are you a real person or a robot??", mentions=BOT_WORDS, not_contains=HUMAN_CLAIMS),
        T("ok. what are your hours", mentions=HOURS),
        small("thanks"),
    ])

    mj = BY_SKU["ZO0177501775"]  # Jumper - mustard
    conv("smalltalk", new_customer(), [
        T("do you have the mustard jumper", mentions=names([mj])),
        small("😂😂 my sister said it looks like a banana"),
        T("how much is it", mentions=[price(mj)]),
        small("ok ty"),
    ])

    conv("smalltalk", new_customer(), [
        T("how long does standard shipping take?", mentions=["3-5", "3 to 5", "3–5"]),
        small("what time is it in tokyo rn", no_facts=True),
        T("ok nvm. is shipping free?", mentions=SHIPPING),
    ])

    conv("smalltalk", new_customer(), [
        small("hi there"),
        small("tell me a joke", no_facts=True),
        T("haha. what payment methods do you take?", mentions=["visa", "paypal", "mastercard"]),
        small("great thanks"),
    ])

    snd = BY_SKU["ZO0081300813"]  # Snood - nude/lilac
    conv("smalltalk", new_customer(), [
        T("do you have the nude/lilac snood?", mentions=names([snd])),
        small("hmm idk"),
        small("are u an ai", mentions=BOT_WORDS, not_contains=HUMAN_CLAIMS),
        T("ok how much is the snood", mentions=[price(snd)]),
    ])


# ---- 5. hand-back recovery ----------------------------------------------------------------------

def handbacks():
    lub = find("boots", "black")
    lub = [p for p in lub if kind(p) == "Lace-up boots"]
    conv("handback", new_customer(), [
        T("i want to speak to a manager, the boots i got are falling apart after a week", action="escalate"),
        T("ok thanks for sorting that. do you have the lace-up boots in black?", hand_back=True,
          mentions=names(lub)),
        T("how much?", mentions=prices(lub)),
        small("thanks!"),
    ])

    o = ORDER_BY_ID["583630"]
    conv("handback", crm_customer(o["phone"]), [
        T("can i talk to a human pls", action="escalate"),
        T("hello??", action="none"),
        T("where is my order 583630?", hand_back=True, mentions=["shipped", "on its way", "on the way"]),
        small("ok thx"),
    ], ["order_status"])

    conv("handback", new_customer(), [
        T("this is the 3rd time im texting about my refund and nobody answers", action="escalate"),
        small("thanks for sorting it", hand_back=True),
        T("how long do refunds usually take?", mentions=REFUND_TIME),
        small("ok thank you"),
    ])

    navy_j = find("jumper", "navy")
    conv("handback", new_customer(), [
        T("your site charged me twice!!", action="escalate"),
        T("ok all good now. do you have the jumper in navy?", hand_back=True, mentions=names(navy_j)),
        size_turn("in a medium?", navy_j, "M"),
        small("thanks"),
    ])

    conv("handback", new_customer(), [
        T("I'd like to speak to someone about a damaged parcel", action="escalate"),
        T("thanks. do you ship express?", hand_back=True, mentions=EXPRESS),
        T("how much is standard shipping", mentions=SHIPPING),
    ])

    o = ORDER_BY_ID["714102"]
    assert o["status"] == "processing"
    conv("handback", crm_customer(o["phone"]), [
        T("I NEED A PERSON NOW", action="escalate"),
        T("sorry about that, has my order 714102 shipped yet?", hand_back=True,
          mentions=["processing", "preparing", "not shipped", "hasn't shipped", "not yet"]),
        T("how long does shipping take once it goes out", mentions=["3-5", "3 to 5", "1-2", "3–5"]),
        small("thanks!"),
    ], ["order_status"])

    gloves = BY_SKU["ZO0308403084"]  # Gloves - black
    conv("handback", new_customer(), [
        T("this is ridiculous, i've been waiting 2 weeks for a reply from your email team", action="escalate"),
        T("ok thanks. do you have gloves?", hand_back=True, mentions=names([gloves])),
        T("how much are they", mentions=[price(gloves)]),
        small("👍"),
    ])

    conv("handback", new_customer(), [
        T("speak to agent", action="escalate"),
        small("thanks!", hand_back=True),
        T("do you price match?", mentions=["don't match", "do not match", "don't price match", "no price match", "not match"]),
    ])

    jds = find("dress", "red")
    conv("handback", new_customer(), [
        T("i was promised a callback yesterday and never got one. not happy", action="escalate"),
        T("hi again, do you have a red dress?", hand_back=True, mentions=names(jds)),
        T("which is the cheapest", mentions=names(cheapest(jds), with_price=True)),
        small("ok thanks"),
    ])

    conv("handback", new_customer(), [
        T("let me talk to a real person", action="escalate"),
        T("ok thanks. can i exchange for a different size?", hand_back=True,
          mentions=["exchange", "30 days", "free"]),
        T("great. and now i want a person again, the exchange form doesn't work", action="escalate"),
    ])

    conv("handback", new_customer(), [
        T("you sent me the wrong item and I want someone to fix it today", action="escalate"),
        T("any update?", action="none"),
        T("thanks for fixing it! what are your hours btw?", hand_back=True, mentions=HOURS),
        small("cool"),
    ])

    wallets = find("purse", dept="Men's")
    wallets = [p for p in wallets if kind(p) == "Wallet"]
    conv("handback", new_customer(), [
        T("human please", action="escalate"),
        T("hi, do you have wallets for men?", hand_back=True, mentions=names(wallets)),
        T("the cheapest one?", mentions=names(cheapest(wallets), with_price=True)),
        small("ty"),
    ])


# ---- 6. Spanish -----------------------------------------------------------------------------------

def spanish():
    red_bl = find("blouse", "red")
    conv("spanish", new_customer(), [
        small("hola", mentions=["hola", "buen", "hi"]),
        T("tienen la blusa roja?", mentions=names(red_bl)),
        T("cuánto cuesta?", mentions=prices(red_bl)),
        small("gracias", mentions=["nada", "gusto", "gracias", "placer"]),
    ], ["es"])

    conv("spanish", new_customer(), [
        T("cuánto cuesta el envío?", mentions=["5.95", "5,95", "50"]),
        T("y el envío exprés?", mentions=["14.95", "14,95"]),
        T("cuánto tarda?", mentions=["1-2", "1 a 2", "1 y 2", "1–2"]),
        small("gracias!!"),
    ], ["es"])

    conv("spanish", new_customer(), [
        T("puedo devolver unos zapatos?", mentions=["30 días", "30 dias", "30 days", "30"]),
        T("la etiqueta de devolución es gratis?", mentions=["gratis", "gratuita", "free", "sin costo"]),
        T("y cuándo me devuelven el dinero?", mentions=["5-7", "5 a 7", "5 y 7", "5–7"]),
    ], ["es"])

    o = ORDER_BY_ID["583233"]
    assert o["status"] == "shipped"
    conv("spanish", crm_customer(o["phone"]), [
        T("hola, dónde está mi pedido 583233?", mentions=["enviado", "en camino", "shipped", "salió"]),
        T("cuándo llega?", mentions=["3-5", "3 a 5", "3 y 5", "1-2", "1 a 2", "días"]),
        small("ok gracias"),
    ], ["es", "order_status"])

    mboots = find("boots", dept="Men's")
    mcheap = cheapest(mboots)
    conv("spanish", new_customer(), [
        T("tienen botas para hombre?", mentions=names(mboots)),
        T("las más baratas?", mentions=names(mcheap, with_price=True)),
        size_turn("en talla 10?", mcheap, "10", es=True),
        small("gracias"),
    ], ["es", "superlative"])

    bdress = find("dress", "black")
    conv("spanish", new_customer(), [
        T("hi, tienen vestidos negros?", mentions=names(bdress)),
        T("el más barato?", mentions=names(cheapest(bdress), with_price=True)),
        small("ok thanks"),
    ], ["es", "mixed"])

    bl = BY_SKU["ZO0172001720"]
    conv("spanish", new_customer(), [
        stock_turn("está disponible el ZO0172001720?", [bl], es=True),
        size_turn("en talla M?", [bl], "M", es=True),
        T("y cuánto vale", mentions=[price(bl)]),
        small("gracias"),
    ], ["es", "sku_literal"])

    pk = BY_SKU["ZO0431204312"]
    conv("spanish", new_customer(), [
        T("quiero hablar con una persona", action="escalate"),
        T("hola de nuevo, cuánto cuesta la parka caqui?", hand_back=True, mentions=[price(pk)]),
        small("gracias"),
    ], ["es", "handback"])

    conv("spanish", new_customer(), [
        T("cuál es su horario de atención?", mentions=ES_HOURS),
        T("y los sábados?", mentions=["lunes a viernes", "lunes", "cerrado", "monday"]),
        small("ok gracias"),
    ], ["es"])

    owned = ["ZO0148401484"]  # Mini skirt - black
    comp = complements_of(owned[0], owned)
    complement_conv(owned, ["2026-10-19"], lambda c: [
        T("qué me queda bien con la falda que compré?", mentions=names(comp)),
        T("cuánto cuesta la más barata?", mentions=names(cheapest(comp), with_price=True)),
        small("gracias!"),
    ], pattern="spanish", extra_tags=["es", "complement"])

    wj = find("jumper", dept="Women's", hi=24.99)
    conv("spanish", new_customer(), [
        T("tienen suéteres?", mentions=names(find("sweater"))),
        T("para mujer, de menos de 25", mentions=names(wj)),
        small("gracias"),
    ], ["es", "synonym", "budget"])

    conv("spanish", new_customer(), [
        small("hola"),
        T("tienen envío gratis?", mentions=["50", "gratis"]),
        T("ya no quiero recibir mensajes, por favor no me escriban más", action="opt_out"),
    ], ["es", "opt_out"])


# ---- 7. order status ------------------------------------------------------------------------------

STATUS_WORDS = {
    "delivered": ["delivered"],
    "shipped": ["shipped", "on its way", "on the way"],
    "processing": ["processing", "preparing", "not shipped", "hasn't shipped", "not yet"],
}


def order_status():
    def status(oid):
        return STATUS_WORDS[ORDER_BY_ID[oid]["status"]]

    def cust(oid):
        return crm_customer(ORDER_BY_ID[oid]["phone"])

    RESERVED_PHONES = [ORDER_BY_ID[x]["phone"] for x in ("587394", "591188", "564796")]

    def only_order(phone):
        os_ = [o for o in ORDERS if o["phone"] == phone]
        return os_

    o = "550471"
    conv("order", cust(o), [
        T("hi where is my order 550471?", mentions=status(o)),
        T("it says delivered but its not here. nothing at my door", action="escalate"),
        T("hello?", action="none"),
    ])

    o = "727269"
    assert ORDER_BY_ID[o]["status"] == "shipped"
    conv("order", cust(o), [
        T("order 727269 status?", mentions=status(o)),
        T("when will it arrive", mentions=["3-5", "3 to 5", "business days", "1-2"]),
        small("👍"),
    ])

    o = "728105"
    assert ORDER_BY_ID[o]["status"] == "processing"
    conv("order", cust(o), [
        T("can u check on my order? its 728105", mentions=status(o)),
        T("ok and whats the return policy if the trousers dont fit?", mentions=RETURNS),
        small("ok thx"),
    ])

    o = "727772"
    assert ORDER_BY_ID[o]["status"] == "processing"
    conv("order", cust(o), [
        small("hi"),
        T("just wanted to check on the status of my order 727772", mentions=status(o)),
        T("what's in it again?", mentions=[it["sku"] for it in ORDER_BY_ID[o]["items"]]
          + [it["title"] for it in ORDER_BY_ID[o]["items"]]),
        small("great thanks"),
    ])

    o = "553885"
    assert ORDER_BY_ID[o]["status"] == "delivered"
    conv("order", cust(o), [
        T("did order 553885 arrive? i'm away", mentions=status(o)),
        T("ok cool. can i return it if it doesn't fit", mentions=RETURNS),
        T("is the return free?", mentions=["free"]),
    ])

    # no order number: "my latest order" is unambiguous, the bot must pick it from the customer's orders
    picks = []
    for st in ("shipped", "processing", "delivered"):
        for phone in sorted(CUSTOMERS):
            os_ = only_order(phone)
            if (phone[2:5] in ("415", "212", "305") and os_ and phone not in PHONES_USED
                    and phone not in [o["phone"] for o in picks] + RESERVED_PHONES):
                latest = max(os_, key=lambda o: o["ordered_at"])
                if latest["status"] == st:
                    picks.append(latest)
                    break
    assert len(picks) == 3, picks
    phr = {
        "shipped": ("has my latest order shipped yet?", "how long till it gets here"),
        "processing": ("hey did my last order ship", "ok. can you remind me what was in it"),
        "delivered": ("where's my most recent order", "oh right. thanks"),
    }
    for o in picks:
        first, second = phr[o["status"]]
        if o["status"] == "shipped":
            t2 = T(second, mentions=["3-5", "3 to 5", "business days", "1-2"])
        elif o["status"] == "processing":
            t2 = T(second, mentions=[it["title"] for it in o["items"]] + [it["sku"] for it in o["items"]])
        else:
            t2 = small(second)
        conv("order", crm_customer(o["phone"]), [
            T(first, mentions=STATUS_WORDS[o["status"]] + [o["order_id"]]),
            t2,
            small("ok"),
        ], ["no_order_number"])

    o = "587394"
    assert ORDER_BY_ID[o]["status"] == "shipped"
    conv("order", cust(o), [
        T("my order number is 587394", mentions=status(o)),
        T("can i change the delivery address?", action="escalate"),
        T("ok", action="none"),
    ])

    o = "591188"
    assert ORDER_BY_ID[o]["status"] == "processing"
    conv("order", cust(o), [
        T("hiya, is 591188 on its way yet?", mentions=status(o)),
        T("when will it ship?", mentions=["processing", "preparing", "once it ships", "when it ships",
                                           "3-5", "business day"]),
        small("ok thank u"),
    ])

    o = "564796"
    assert ORDER_BY_ID[o]["status"] == "delivered"
    items = ORDER_BY_ID[o]["items"]
    conv("order", cust(o), [
        T("order 564796 - did it get delivered?", mentions=status(o)),
        T("i want to exchange the shirt for a bigger size", mentions=["exchange", "30 days", "free"]),
        small("thanks"),
    ])


# ---- 8. must escalate / opt out mid-thread --------------------------------------------------------

def escalate_optout():
    belts = find("belt", "navy")
    conv("escalate", new_customer(), [
        T("do u have the belt in navy?", mentions=names(belts)),
        T("actually forget it. my lawyer will be contacting you about my last order", action="escalate"),
        T("hello?", action="none"),
    ])

    conv("escalate", new_customer(), [
        T("hi i have a question about a charge", mentions=None, action="reply"),
        T("i'm filing a chargeback with my bank unless someone calls me today",
          action="escalate"),
        T("??", action="none"),
    ])

    conv("escalate", new_customer(), [
        small("hi"),
        T("how much is express shipping", mentions=EXPRESS),
        T("let me talk to a human", action="escalate"),
    ])

    conv("escalate", new_customer(), [
        T("where is my refund", action="reply", mentions=REFUND_TIME + ["order number", "order"]),
        T("worst service ever. 3 weeks and still no refund, absolutely furious", action="escalate"),
        T("answer me", action="none"),
    ])

    conv("escalate", new_customer(), [
        small("hey"),
        T("i got an email about an order i never made, i think someone used my card on your site",
          action="escalate"),
        T("please hurry", action="none"),
    ])

    conv("escalate", new_customer(), [
        T("do the winter boots run true to size?", mentions=["size", "fit", "exchange"]),
        T("the zip on my boots snapped and cut my leg, this is dangerous", action="escalate"),
        T("hello", action="none"),
    ])

    mcs = find("winter coat", dept="Men's")
    conv("optout", new_customer(), [
        T("do you have winter coats for men", mentions=names(mcs)),
        T("hmm too pricey", action="reply", max_segments=2),
        T("please stop texting me", action="opt_out"),
    ])

    conv("optout", new_customer(), [
        T("how much is shipping", mentions=SHIPPING),
        small("ok"),
        T("take me off your list", action="opt_out"),
    ])

    scarves = find("top", "red", dept="Women's")
    conv("optout", new_customer(), [
        small("hi"),
        T("any red tops?", mentions=names(scarves)),
        T("i dont want any more messages from you guys", action="opt_out"),
    ])

    conv("optout", new_customer(), [
        T("what are your hours", mentions=HOURS),
        small("thx"),
        T("unsubscribe me please", action="opt_out"),
    ])

    conv("optout", new_customer(), [
        T("do you take paypal", mentions=["paypal", "yes"]),
        small("ok good"),
        T("also remove my number from your texts", action="opt_out"),
    ])

    conv("optout", new_customer(), [
        small("hello"),
        T("is the mustard jumper in stock", mentions=IN_STOCK, not_contains=NOT_SOLD_OUT),
        T("no more texts thx", action="opt_out"),
    ])


# ---------------------------------------------------------------------------------------------
# validation

SKU_RE = re.compile(r"ZO\d{10}")
PRICE_RE = re.compile(r"^\d+\.\d\d$")
KNOWN_NUMBERS = {"5.95", "14.95"}
ALL_PRICES = {price(p) for p in CATALOG}


def validate(convs):
    ids = set()
    phones = set()
    for c in convs:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
        ph = c["customer"]["phone"]
        assert re.fullmatch(r"\+1(415|212|305)55501\d\d", ph), ph
        assert ph not in phones, ph
        phones.add(ph)
        assert len(c["turns"]) >= 3, c["id"]
        for o in c["customer"].get("orders", []):
            p = BY_SKU[o["sku"]]
            assert p["title"] == o["title"], o
            if "order_id" in o:
                real = ORDER_BY_ID[o["order_id"]]
                assert real["phone"] == ph and real["status"] == o["status"], o
                assert any(it["sku"] == o["sku"] and it["price"] == o["price"] for it in real["items"]), o
            else:
                assert o["price"] == p["price"], o
        prev = None
        for t in c["turns"]:
            e = t["expect"]
            assert e["action"] in {"reply", "escalate", "opt_out", "opt_in", "help", "none"}
            if t.get("hand_back_before"):
                assert prev in ("escalate", "none"), c["id"]
            if e["action"] == "none":
                assert prev in ("escalate", "none"), c["id"]
            prev = e["action"]
            text = json.dumps(t, ensure_ascii=False)
            for s in SKU_RE.findall(text):
                assert s in BY_SKU, (c["id"], s)
            for m in e.get("mentions_any", []):
                if PRICE_RE.match(m):
                    assert m in ALL_PRICES or m in KNOWN_NUMBERS, (c["id"], m)
            for s in e.get("not_contains", []):
                assert s.lower() not in [m.lower() for m in e.get("mentions_any", [])], (c["id"], s)
    # policy numbers quoted in expectations are really in the policies
    body = " ".join(p["body"] for p in POLICIES.values())
    for n in ["$5.95", "$50", "$14.95", "3-5", "1-2", "30 days", "5-7", "9:00", "18:00", "PayPal"]:
        assert n in body, n


def main():
    followups()
    complements()
    queries()
    smalltalk()
    handbacks()
    spanish()
    order_status()
    escalate_optout()
    validate(CONVS)
    with open(OUT, "w", encoding="utf-8") as f:
        for c in CONVS:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    turns = sum(len(c["turns"]) for c in CONVS)
    per = defaultdict(lambda: [0, 0])
    for c in CONVS:
        per[c["tags"][2]][0] += 1
        per[c["tags"][2]][1] += len(c["turns"])
    print("%d conversations, %d turns -> %s" % (len(CONVS), turns, OUT.relative_to(ROOT)), file=sys.stderr)
    for k, (n, t) in per.items():
        print("  %-10s %3d conversations %3d turns" % (k, n, t), file=sys.stderr)


if __name__ == "__main__":
    main()
