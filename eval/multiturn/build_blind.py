#!/usr/bin/env python3
"""Builds eval/multiturn/blind.jsonl, the blind multi-turn eval set (issue 16, item 9).

Written without reading the rules, the prompts or the other eval sets: only the issue text,
the transcript format, the demo store's data and the ABCD dialogues. Every expected sku and
price is computed from demo/store/*.jsonl here, so the file is reproducible:

    python3 eval/multiturn/build_blind.py      # writes eval/multiturn/blind.jsonl

Python 3 stdlib only, deterministic (no randomness, sorted iteration).
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STORE = os.path.join(HERE, "..", "..", "demo", "store")
OUT = os.path.join(HERE, "blind.jsonl")


def load(name):
    with open(os.path.join(STORE, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


CAT = load("catalog.jsonl")
SKU = {c["sku"]: c for c in CAT}
ORDERS = load("orders.jsonl")
CRM = {c["phone"]: c for c in load("customers.jsonl")}
REVERSE = collections.defaultdict(set)
for _c in CAT:
    for _x in _c["complements"]:
        REVERSE[_x].add(_c["sku"])


# ---------------------------------------------------------------- catalog queries

def kind(c):
    """The product type: the title before the first ' - ' ("Blouse - red" -> "Blouse")."""
    return c["title"].split(" - ")[0]


def has_colour(c, word):
    """True when one of the product's colours contains `word` as a word ("dark red" has "red")."""
    for col in c["colors"]:
        parts = col.lower().replace("/", " ").replace("-", " ").split()
        if word in parts:
            return True
    return False


def find(kinds=None, colour=None, dept=None, lo=None, hi=None, in_stock=True, pred=None):
    """Products matching every given constraint, sorted by sku."""
    out = []
    for c in CAT:
        if kinds is not None and kind(c) not in kinds:
            continue
        if colour is not None and not has_colour(c, colour):
            continue
        if dept is not None and not c["category"].startswith(dept):
            continue
        if lo is not None and c["price"] < lo:
            continue
        if hi is not None and c["price"] > hi:
            continue
        if in_stock and c["stock"] <= 0:
            continue
        if pred is not None and not pred(c):
            continue
        out.append(c)
    return sorted(out, key=lambda c: c["sku"])


def skus(items):
    return [c["sku"] for c in items]


def cheapest(items):
    m = min(c["price"] for c in items)
    return [c for c in items if c["price"] == m]


def priciest(items):
    m = max(c["price"] for c in items)
    return [c for c in items if c["price"] == m]


def price(sku):
    return "%.2f" % SKU[sku]["price"]


def complements(owned_sku, owned_all, kinds=None, colour=None):
    """In-stock items that go with `owned_sku` (its complements and the items listing it as one),
    never one the customer owns, optionally limited to kinds / a colour."""
    cand = (set(SKU[owned_sku]["complements"]) | REVERSE[owned_sku]) - set(owned_all)
    out = []
    for s in sorted(cand):
        c = SKU[s]
        if c["stock"] <= 0:
            continue
        if kinds is not None and kind(c) not in kinds:
            continue
        if colour is not None and not has_colour(c, colour):
            continue
        out.append(s)
    return out


def siblings(sku):
    """Other in-stock colours of the same product line (same type, brand and category)."""
    c = SKU[sku]
    return [x for x in CAT if x["sku"] != sku and kind(x) == kind(c) and x["brand"] == c["brand"]
            and x["category"] == c["category"] and x["stock"] > 0]


DRESSES = sorted({kind(c) for c in CAT if "dress" in kind(c).lower() and "gown" not in kind(c).lower()})
SWEATERS = ["Jumper", "Wool jumper"]
COATS = ["Winter jacket", "Parka", "Down jacket", "Classic coat", "Short coat"]
SNEAKERS = ["Trainers", "High-top trainers", "Sports shoes"]
PANTS = ["Trousers", "Chinos", "Slim Fit Trousers", "Casual Cuffed Trousers", "Cargo trousers"]
PURSES = ["Handbag", "Clutch", "Across body bag", "Tote bag", "Crossover Strap Bag", "Wallet"]
SKIRTS = sorted({kind(c) for c in CAT if "skirt" in kind(c).lower()})

# ---------------------------------------------------------------- word lists for mentions_any

IN_STOCK = ["in stock", "available", "we have", "yes", "left"]
SOLD_OUT = ["sold out", "out of stock", "not in stock", "none left", "no stock", "unavailable",
            "not available", "agotad", "no tenemos", "no hay"]
MEDIUM = ["medium", "size m", " m,", " m ", " m.", "(m)", "talla m"]
BOT = ["bot", "automated", "virtual", "assistant", "artificial", " ai ", "an ai", "a.i.",
       "asistente", "automático", "automatico"]
SHIP_COST = ["5.95", "free", "gratis", "$50"]
EXPRESS = ["14.95", "1-2", "1–2", "1 to 2", "1 a 2"]
RETURNS = ["30 days", "30-day", "30 días", "30 dias"]
HOURS = ["9:00", "9 to", "9am", "9 am", "monday", "lunes", "9-18", "9–18", "6 pm", "6pm", "18:00"]
PRICE_MATCH = ["don't match", "do not match", "doesn't match", "not match", "no price match",
               "can't match", "cannot match", "don't adjust", "do not adjust", "won't match"]
STATUS = {
    "delivered": ["delivered", "entregad"],
    "shipped": ["shipped", "on its way", "on the way", "enviad", "en camino"],
    "processing": ["processing", "preparing", "being prepared", "procesando", "preparando",
                   "preparación", "preparacion", "en proceso"],
}
HOLA = ["hola", "ayudar", "ayudarte", "puedo", "buenas", "bienvenid"]
GRACIAS = ["de nada", "gracias", "un placer", "con gusto", "a ti", "encantad"]
SIZES = ["xl", "s, m", "s/m", "s-xl", "s to xl", "small", "extra large"]


def shoe_size(n, lo="5"):
    """Ways of saying a shoe comes in size n (the range or the size named)."""
    hi = str(int(lo) + 5)
    return ["size %s" % n, "an %s" % n, "a %s" % n, "in %s" % n, "%s is" % n,
            "%s-%s" % (lo, hi), "%s to %s" % (lo, hi), "%s–%s" % (lo, hi)]


SHOE_SIZE_11_NO = ["5-10", "5 to 10", "5–10", "up to 10", "up to a 10", "size 10", "only go",
                   "not available", "don't have", "do not have", "isn't available", "not in 11",
                   "no 11", "not in an 11", "doesn't come"]


def T(text, action="reply", **expect):
    """One turn: the customer's text and what a good bot does with it."""
    e = {"action": action}
    for k, v in expect.items():
        if v is None:
            continue
        if k in ("mentions_any", "not_contains"):
            v = list(dict.fromkeys(v))
        e[k] = v
    return {"in": text, "expect": e}


def HB(turn):
    """The same turn, after a reviewer handed the conversation back to the bot."""
    t = dict(turn)
    return dict({"in": t["in"], "hand_back_before": True, "expect": t["expect"]})


# ---------------------------------------------------------------- phones and customers

class Phones:
    """Fictional numbers 555-01NN in 617, 312 and 206, skipping the CRM's own numbers."""

    def __init__(self):
        self.pool = []
        for nn in range(100, 200):
            for area in ("617", "312", "206"):
                p = "+1%s5550%d" % (area, nn)
                if p not in CRM:
                    self.pool.append(p)
        self.used = set()

    def next(self):
        for p in self.pool:
            if p not in self.used:
                self.used.add(p)
                return p
        raise SystemExit("out of phone numbers")

    def take(self, p):
        assert p not in self.used, p
        self.used.add(p)
        return p


PHONES = Phones()


def customer(name, owned=(), when="2026-10-12"):
    """A new (non-CRM) customer with inline orders of real catalog skus."""
    orders = []
    for i, s in enumerate(owned):
        c = SKU[s]
        orders.append({"sku": s, "title": c["title"], "price": c["price"],
                       "ordered_at": when if isinstance(when, str) else when[i]})
    return {"phone": PHONES.next(), "name": name, "orders": orders}


def crm_customer(phone):
    """A CRM customer given inline, consistent with customers.jsonl and orders.jsonl
    (each item carries its order_id and status)."""
    PHONES.take(phone)
    orders = []
    for o in ORDERS:
        if o["phone"] != phone:
            continue
        for it in o["items"]:
            orders.append({"sku": it["sku"], "title": it["title"], "price": it["price"],
                           "ordered_at": o["ordered_at"][:10], "order_id": o["order_id"],
                           "status": o["status"]})
    return {"phone": phone, "name": CRM[phone]["name"], "orders": orders}


def order(order_id):
    return next(o for o in ORDERS if o["order_id"] == order_id)


CONVS = []


def conv(cid, pattern, cust, turns):
    assert len(turns) >= 3, cid
    d = {"id": "blind-" + cid, "pattern": pattern}
    if cust is not None:
        d["customer"] = cust
    d["turns"] = turns
    CONVS.append(d)


# ================================================================ 1. follow-ups in the thread
P = "followup"

red_blouses = find(["Blouse"], colour="red")
conv("fu-red-blouse", P, customer("Dana Whitfield"), [
    T("hi do you have a red blouse?", mentions_any=skus(red_blouses)),
    T("how much is it?", mentions_any=sorted({price(s) for s in skus(red_blouses)})),
    T("in a medium?", mentions_any=MEDIUM),
    T("ok great thanks"),
])

s = "ZO0066800668"
conv("fu-sku-price-stock", P, customer("Kim Osei"), [
    T("hey, whats %s" % s, mentions_any=[s, "bossa nova", "blouse"]),
    T("how much", mentions_any=[price(s)]),
    T("is it in stock?", mentions_any=IN_STOCK),
    T("cool ty"),
])

parkas = find(["Parka"])
conv("fu-parka-first", P, customer("Lou Brandt"), [
    T("do u sell parkas", mentions_any=skus(parkas)),
    T("is the first one in stock?", mentions_any=IN_STOCK),
    T("what sizes does it come in", mentions_any=SIZES),
    T("👍"),
])

cheap_trainers = find(["Trainers"], hi=19.99)
cheapest_trainer = cheapest(cheap_trainers)
conv("fu-trainers-cheapest", P, customer("Marisol Vega"), [
    T("show me trainers under $20", mentions_any=skus(cheap_trainers)),
    T("which one is the cheapest?", mentions_any=skus(cheapest_trainer)),
    T("how much is it", mentions_any=[price(c["sku"]) for c in cheapest_trainer]),
    T("do you have that one in a size 11?", mentions_any=SHOE_SIZE_11_NO),
])

men_watches = find(["Watch"], dept="Men's")
conv("fu-watch-priciest", P, customer("Owen Park"), [
    T("got any watches for men?", mentions_any=skus(men_watches)),
    T("which is the most expensive one", mentions_any=skus(priciest(men_watches))),
    T("and the brown one, how much", mentions_any=[price(c["sku"]) for c in men_watches if has_colour(c, "brown")]),
    T("what colour is the cheapest one?", mentions_any=[c["colors"][0] for c in cheapest(men_watches)]),
])

pleated = find(["Pleated skirt"])
grey_pleated = [c for c in pleated if has_colour(c, "gray") or has_colour(c, "grey")]
conv("fu-pleated-grey", P, customer("Hana Ito"), [
    T("looking for a pleated skirt", mentions_any=skus(pleated)),
    T("is the grey one in stock", mentions_any=IN_STOCK + skus(grey_pleated)),
    T("how much is that one", mentions_any=[price(c["sku"]) for c in grey_pleated]),
    T("ok ill think about it"),
])

s = "ZO0296902969"
sib = siblings(s)
conv("fu-other-colours", P, customer("Greg Tanaka"), [
    T("is %s available?" % s, mentions_any=IN_STOCK + [s]),
    T("what other colours does it come in?",
      mentions_any=skus(sib) + sorted({c["colors"][0] for c in sib})),
    T("the navy one in large?", mentions_any=["large", "size l", " l,", " l ", " l.", "(l)"]),
    T("perfect thats all"),
])

party = find(["Cocktail dress / Party dress"])
conv("fu-party-dress", P, customer("Ines Laurent"), [
    T("im looking for a party dress for new years", mentions_any=skus(party)),
    T("which one's cheapest", mentions_any=skus(cheapest(party))),
    T("in a small?", mentions_any=["small", "size s", " s,", " s ", " s.", "(s)"]),
    T("thx!"),
])

navy_hats = find(["Hat"], colour="navy")
conv("fu-hats-navy", P, customer("Pat Mulroney"), [
    T("hats?", mentions_any=skus(find(["Hat"]))),
    T("the navy ones how much", mentions_any=sorted({price(c["sku"]) for c in navy_hats})),
    T("hmm ok and shipping?", mentions_any=SHIP_COST),
    T("ok"),
])

s = "ZO0185001850"
conv("fu-winter-jacket-express", P, customer("Ravi Kumar"), [
    T("is %s still available" % s, mentions_any=IN_STOCK + [s]),
    T("how much was it again", mentions_any=[price(s)]),
    T("can i get it by friday? do you do express", mentions_any=EXPRESS),
    T("great thanks for your help"),
])

jumper_dress = find(["Jumper dress"])
conv("fu-it-colour", P, customer("Tess Nolan"), [
    T("do you have a jumper dress", mentions_any=skus(jumper_dress)),
    T("what colour is it", mentions_any=[c["colors"][0] for c in jumper_dress]),
    T("is it in stock in medium", mentions_any=MEDIUM + IN_STOCK),
    T("awesome"),
])

tote = find(["Tote bag"], colour="black")
conv("fu-tote-that-one", P, customer("Ava Lindqvist"), [
    T("any black tote bags", mentions_any=skus(tote)),
    T("which is cheapest", mentions_any=skus(cheapest(tote))),
    T("that one. can i return it if i dont like it?", mentions_any=RETURNS),
    T("ok cool"),
])

# ================================================================ 2. complements from history
P = "complement"


def comp_conv(cid, name, owned, ask_sku, text, kinds=None, colour=None, extra=None, when="2026-10-12"):
    got = complements(ask_sku, owned, kinds, colour)
    assert got, (cid, ask_sku)
    turns = [T(text, mentions_any=got, not_contains=list(owned))]
    if extra:
        turns += extra(got)
    conv(cid, P, customer(name, owned, when), turns)


comp_conv("cp-red-blouse-dress", "Sofia Reyes", ["ZO0338903389"], "ZO0338903389",
          "i want a red blouse that goes with the summer dress i bought last time",
          kinds=["Blouse"], colour="red",
          extra=lambda g: [T("how much is it?", mentions_any=[price(x) for x in g]),
                           T("in a medium?", mentions_any=MEDIUM),
                           T("perfect thank you!")])

comp_conv("cp-blouse-cardigan", "Nadia Haddad", ["ZO0068600686"], "ZO0068600686",
          "hey! any blouse that would go with the cardigan i got last time?",
          kinds=["Blouse"],
          extra=lambda g: [T("what colour is it", mentions_any=[SKU[x]["colors"][0] for x in g]),
                           T("is it in stock", mentions_any=IN_STOCK),
                           T("great")])

comp_conv("cp-dress-grey-cardigan", "Leah Cohen", ["ZO0267902679"], "ZO0267902679",
          "what dress goes with the grey cardigan i bought?", kinds=DRESSES,
          extra=lambda g: [T("hows the price on that", mentions_any=[price(x) for x in g]),
                           T("hmm"),
                           T("ok ill take a look thx")])

comp_conv("cp-shoes-aline", "Molly Griffin", ["ZO0328703287"], "ZO0328703287",
          "what shoes would go with the skirt i bought?",
          kinds=sorted({kind(c) for c in CAT if c["category"].endswith("Shoes")}),
          extra=lambda g: [T("do they come in an 8?", mentions_any=shoe_size("8")),
                           T("how much", mentions_any=[price(x) for x in g]),
                           T("ok thanks")])

comp_conv("cp-mini-skirt-any", "Jade Morgan", ["ZO0148401484"], "ZO0148401484",
          "what goes with the mini skirt i bought",
          extra=lambda g: [T("which of those is cheapest?",
                             mentions_any=skus(cheapest([SKU[x] for x in g]))),
                           T("is it in stock?", mentions_any=IN_STOCK),
                           T("ty")])

comp_conv("cp-top-chinos", "Marcus Bell", ["ZO0527005270"], "ZO0527005270",
          "need a top to wear with the black chinos i got",
          kinds=["Polo shirt", "Shirt", "Print T-shirt", "Basic T-shirt", "Long sleeved top",
                 "Sweatshirt", "Jumper", "Formal shirt", "Sports shirt"],
          extra=lambda g: [T("in large?", mentions_any=["large", "size l", " l,", " l ", " l.", "(l)"]),
                           T("price?", mentions_any=[price(x) for x in g]),
                           T("cool")])

comp_conv("cp-shirt-suit", "Daniel Brooks", ["ZO0275702757"], "ZO0275702757",
          "what shirt goes with the suit jacket i bought?", kinds=["Shirt", "Formal shirt"],
          extra=lambda g: [T("is it in stock", mentions_any=IN_STOCK),
                           T("how long does shipping take", mentions_any=["3-5", "3–5", "3 to 5", "1-2", "business days"]),
                           T("thanks!")])

comp_conv("cp-belt-handbag", "Priya Nair", ["ZO0088900889"], "ZO0088900889",
          "do you have a belt that matches the cognac handbag i ordered?", kinds=["Belt", "Waist belt"],
          extra=lambda g: [T("how much is it", mentions_any=[price(x) for x in g]),
                           T("and the colour?", mentions_any=[SKU[x]["colors"][0] for x in g]),
                           T("ok lovely")])

comp_conv("cp-jacket-denim-skirt", "Chloe Dubois", ["ZO0033600336"], "ZO0033600336",
          "what jacket goes with my denim skirt?",
          kinds=["Bomber Jacket", "Denim jacket", "Leather jacket", "Faux leather jacket",
                 "Light jacket", "Summer jacket", "Blazer"],
          extra=lambda g: [T("how much?", mentions_any=[price(x) for x in g]),
                           T("in a small", mentions_any=["small", "size s", " s,", " s ", " s.", "(s)"]),
                           T("ok")])

comp_conv("cp-pencil-skirt-owned-bag", "Rebecca Stone", ["ZO0259902599", "ZO0209602096"], "ZO0259902599",
          "what shoes go with the pencil skirt i bought?",
          kinds=sorted({kind(c) for c in CAT if c["category"].endswith("Shoes")}),
          extra=lambda g: [T("and a bag?", mentions_any=[x for x in skus(find(["Across body bag", "Handbag", "Clutch", "Tote bag"], dept="Women's")) if x != "ZO0209602096"],
                             not_contains=["ZO0209602096"]),
                           T("thanks")],
          when=["2026-10-23", "2026-10-23"])

comp_conv("cp-dress-heels-owned-boots", "Elena Petrova", ["ZO0366203662", "ZO0139501395"], "ZO0366203662",
          "any dress that goes with the heels i bought?", kinds=DRESSES,
          extra=lambda g: [T("cheaper options?",
                             mentions_any=skus(find(DRESSES, hi=SKU[g[0]]["price"] - 0.01))),
                           T("ok thank you")])

comp_conv("cp-boots-dress-owned-cardigan", "Julia Fischer", ["ZO0340503405", "ZO0177901779"], "ZO0340503405",
          "what goes with the dusty rose dress i bought? not the cardigan, i have that",
          extra=lambda g: [T("the boots, how much", mentions_any=[price(x) for x in g if "boots" in SKU[x]["title"].lower()]),
                           T("do they come in size 7", mentions_any=shoe_size("7")),
                           T("thanks a lot")])

comp_conv("cp-sweater-wrap-skirt", "Amara Okafor", ["ZO0259602596"], "ZO0259602596",
          "is there a sweater that goes with my wrap skirt?", kinds=["Sweatshirt", "Jumper", "Wool jumper", "Cardigan"],
          extra=lambda g: [T("what colour", mentions_any=[SKU[x]["colors"][0] for x in g]),
                           T("how much is it", mentions_any=[price(x) for x in g]),
                           T("nice ty")])

# ================================================================ 3. query understanding
P = "query"

dresses = find(DRESSES)
conv("qu-cheapest-dress", P, customer("Bea Lawson"), [
    T("what's the cheapest dress you have?", mentions_any=skus(cheapest(dresses))),
    T("how much is it", mentions_any=[price(c["sku"]) for c in cheapest(dresses)]),
    T("and the most expensive one?", mentions_any=skus(priciest(dresses))),
    T("lol ok the cheap one is fine"),
])

conv("qu-red-blouse-under-25", P, customer("Carmen Ortiz"), [
    T("red blouses under $25?", mentions_any=skus(find(["Blouse"], colour="red", hi=25))),
    T("what about navy", mentions_any=skus(find(["Blouse"], colour="navy", hi=25)) or skus(find(["Blouse"], colour="navy"))),
    T("ok thanks"),
])

bags_20_40 = find(["Handbag"], lo=20, hi=40)
conv("qu-handbag-between", P, customer("Zoe Hartman"), [
    T("handbags between 20 and 40 dollars", mentions_any=skus(bags_20_40)),
    T("any in rose?", mentions_any=skus([c for c in bags_20_40 if has_colour(c, "rose")])),
    T("is it in stock", mentions_any=IN_STOCK),
])

conv("qu-husband-watch", P, customer("Linda Fox"), [
    T("need a gift for my husband, he likes watches", mentions_any=skus(men_watches)),
    T("something under 20?", mentions_any=skus(find(["Watch"], dept="Men's", hi=20))),
    T("great and do you do gift wrap?", no_facts=True),
])

daughter_jumpers = find(SWEATERS, dept="Women's", hi=25)
conv("qu-daughter-jumper", P, customer("Frank Miller"), [
    T("looking for a sweater for my daughter under 25", mentions_any=skus(daughter_jumpers)),
    T("which is cheapest", mentions_any=skus(cheapest(daughter_jumpers))),
    T("what sizes", mentions_any=SIZES),
])

conv("qu-soldout-sku", P, customer("Grace Kim"), [
    T("is ZO0059900599 in stock?", mentions_any=SOLD_OUT),
    T("oh no. any other black blouses?", mentions_any=skus(find(["Blouse"], colour="black"))),
    T("the cheapest of those?", mentions_any=skus(cheapest(find(["Blouse"], colour="black")))),
])

coats = find(COATS)
conv("qu-winter-coats", P, customer("Noah Becker"), [
    T("do you have winter coats", mentions_any=skus(coats)),
    T("for men", mentions_any=skus(find(COATS, dept="Men's"))),
    T("most expensive one?", mentions_any=skus(priciest(find(COATS, dept="Men's")))),
    T("yikes ok thanks"),
])

sneakers_m = find(SNEAKERS, dept="Men's")
conv("qu-sneakers-men", P, customer("Tyler Green"), [
    T("sneakers for my boyfriend?", mentions_any=skus(sneakers_m)),
    T("in white", mentions_any=skus([c for c in sneakers_m if has_colour(c, "white")])),
    T("size 12?", mentions_any=shoe_size("12", "7")),
    T("k thx"),
])

pants_w = find(PANTS, dept="Women's")
conv("qu-pants-black", P, customer("Olivia Grant"), [
    T("black pants for work?", mentions_any=skus([c for c in pants_w if has_colour(c, "black")]) +
      skus([c for c in find(PANTS) if has_colour(c, "black")])),
    T("which is the cheapest", mentions_any=skus(cheapest([c for c in find(PANTS) if has_colour(c, "black")])) +
      skus(cheapest([c for c in pants_w if has_colour(c, "black")]))),
    T("in xl?", mentions_any=["xl", "extra large", "extra-large"]),
])

purses = find(PURSES, hi=15)
conv("qu-purse-under-15", P, customer("Maya Singh"), [
    T("cheap purse? under 15", mentions_any=skus(purses)),
    T("black ones only", mentions_any=skus([c for c in purses if has_colour(c, "black")])),
    T("👌 thanks"),
])

boots_black = find(["Ankle boots"], colour="black")
conv("qu-ankle-boots-size", P, customer("Holly Adams"), [
    T("black ankle boots in size 8", mentions_any=skus(boots_black)),
    T("under 30?", mentions_any=skus([c for c in boots_black if c["price"] <= 30])),
    T("ok can i exchange if the size is wrong", mentions_any=["exchange", "30 days", "free"]),
])

conv("qu-jumper-uk", P, customer("Oliver Hughes"), [
    T("any wool jumpers?", mentions_any=skus(find(["Wool jumper"])) + skus(find(["Jumper"]))),
    T("how much is the wool one", mentions_any=[price(c["sku"]) for c in find(["Wool jumper"])]),
    T("cheers"),
])

trousers_men = find(PANTS, dept="Men's")
conv("qu-trousers-husband-between", P, customer("Sarah Levine"), [
    T("trousers for my husband between 20 and 40", mentions_any=skus([c for c in trousers_men if 20 <= c["price"] <= 40])),
    T("most expensive of those?", mentions_any=skus(priciest([c for c in trousers_men if 20 <= c["price"] <= 40]))),
    T("ok"),
])

conv("qu-sku-literal-price", P, customer("Ivan Petrov"), [
    T("price of ZO0150301503?", mentions_any=[price("ZO0150301503")]),
    T("and ZO0150401504", mentions_any=[price("ZO0150401504")]),
    T("which one is red", mentions_any=["ZO0150401504"]),
])

# ================================================================ 4. small talk / out of scope mid-thread
P = "smalltalk"

conv("st-bot", P, customer("Gina Russo"), [
    T("hi"),
    T("are you a bot?", mentions_any=BOT),
    T("ok. do you have scarves?", mentions_any=skus(find(["Scarf"]))),
    T("thanks"),
])

conv("st-weather", P, customer("Henry Cole"), [
    T("do you have rain jackets?", mentions_any=skus(find(["Waterproof jacket", "Windbreaker", "Light jacket", "Parka", "Winter jacket"]))),
    T("whats the weather tomorrow in chicago", no_facts=True),
    T("lol ok. how much is shipping", mentions_any=SHIP_COST),
])

conv("st-hmm", P, customer("Ella Ward"), [
    T("do you have mini skirts", mentions_any=skus(find(["Mini skirt"]))),
    T("hmm"),
    T("whats the cheapest", mentions_any=skus(cheapest(find(["Mini skirt"])))),
    T("ok"),
])

conv("st-emoji", P, customer("Quinn Harper"), [
    T("😀"),
    T("do you have sunglasses", mentions_any=skus(find(["Sunglasses"]))),
    T("❤️"),
])

conv("st-joke-sports", P, customer("Victor Lane"), [
    T("hey ho"),
    T("who won the game last night", no_facts=True),
    T("fine lol. do you sell ties", mentions_any=skus(find(["Tie", "Bow tie", "SET"]))),
])

conv("st-human-question", P, customer("Wendy Cho"), [
    T("is this a real person?", mentions_any=BOT),
    T("ok cool. what are your hours", mentions_any=HOURS),
    T("ty"),
])

conv("st-off-topic-recipe", P, customer("Xavier Boyd"), [
    T("hello"),
    T("do you know a good pasta recipe", no_facts=True),
    T("haha ok, do you take paypal", mentions_any=["paypal"]),
    T("k"),
])

conv("st-stock-market", P, customer("Yara Haddad"), [
    T("do u have the jersey dress in red", mentions_any=skus(find(["Jersey dress"], colour="red"))),
    T("btw what time is it in tokyo", no_facts=True),
    T("nvm. how much is the cheapest red one", mentions_any=[price(c["sku"]) for c in cheapest(find(["Jersey dress"], colour="red"))]),
])

conv("st-ok-thanks-chain", P, customer("Zara Quinn"), [
    T("good morning"),
    T("do you price match amazon?", mentions_any=PRICE_MATCH),
    T("ok"),
    T("thanks have a great day!"),
])

conv("st-help-keyword", P, customer("Abby Fields"), [
    T("hi there"),
    T("HELP", "help"),
    T("do you have a denim dress", mentions_any=skus(find(["Denim dress"]))),
])

conv("st-what-can-you-do", P, customer("Brian Shaw"), [
    T("what can you do"),
    T("are you AI", mentions_any=BOT),
    T("can you tell me a joke", no_facts=True),
    T("ok whats your return policy", mentions_any=RETURNS),
])

# ================================================================ 5. hand-back recovery
P = "handback"

conv("hb-human-then-boots", P, customer("Carla Jensen", ["ZO0022500225"]), [
    T("can i talk to a real person please", "escalate"),
    HB(T("ok thanks that's sorted. do you have black boots under 35?", mentions_any=skus(find(["Boots"], colour="black", hi=35)))),
    T("how much is the cheapest one", mentions_any=[price(c["sku"]) for c in cheapest(find(["Boots"], colour="black", hi=35))]),
    T("thanks!"),
])

conv("hb-complaint-then-thanks", P, customer("Derek Wolfe", ["ZO0143401434"]), [
    T("this is ridiculous, the boots i got fell apart after a week. i want a manager NOW", "escalate"),
    HB(T("thanks, the lady sorted it out")),
    T("how long does the refund take?", mentions_any=["5-7", "5–7", "5 to 7", "business days"]),
    T("ok thanks"),
])

conv("hb-order-status-after", P, crm_customer("+13125550104"), [
    T("hi i need to speak to someone about my account", "escalate"),
    HB(T("where is my order 583793?", mentions_any=STATUS[order("583793")["status"]])),
    T("thank you"),
])

conv("hb-silent-then-back", P, customer("Erin Walsh"), [
    T("i want to speak to a human", "escalate"),
    T("hello??", "none"),
    HB(T("never mind. do you have a navy cardigan?", mentions_any=skus(find(["Cardigan"], colour="navy")) + skus(find(["Cardigan"], colour="blue")) + skus(find(["Cardigan"], colour="peacoat")))),
    T("ok"),
])

conv("hb-angry-then-cheapest", P, customer("Fiona Burke"), [
    T("worst service ever, i've been waiting 3 weeks and nobody answers", "escalate"),
    HB(T("what's the cheapest belt you have", mentions_any=skus(cheapest(find(["Belt", "Waist belt"]))))),
    T("and is it in stock", mentions_any=IN_STOCK),
])

conv("hb-damaged-then-complement", P, customer("Gabriel Silva", ["ZO0527005270"]), [
    T("my package arrived damaged and i want someone to call me", "escalate"),
    HB(T("ok all good. what top goes with the chinos i bought?", mentions_any=complements("ZO0527005270", ["ZO0527005270"]), not_contains=["ZO0527005270"])),
    T("price?", mentions_any=[price(x) for x in complements("ZO0527005270", ["ZO0527005270"])]),
])

conv("hb-agent-twice", P, customer("Helena Moss"), [
    T("agent", "escalate"),
    HB(T("sorry wrong button. do you have hats?", mentions_any=skus(find(["Hat"])))),
    T("which is cheapest", mentions_any=skus(cheapest(find(["Hat"])))),
    T("perfect"),
])

conv("hb-two-escalations", P, customer("Igor Novak"), [
    T("i need to talk to a manager about a charge", "escalate"),
    HB(T("thanks. do you have slim fit jeans?", mentions_any=skus(find(["Slim fit jeans", "Jeans Skinny Fit"])))),
    T("actually i want to talk to someone again about the charge", "escalate"),
    HB(T("ok done. whats your return window", mentions_any=RETURNS)),
])

conv("hb-spanish", P, customer("Lucía Romero"), [
    T("quiero hablar con una persona por favor", "escalate"),
    HB(T("gracias. ¿tienen bolsos negros?", mentions_any=skus(find(["Handbag"], colour="black")))),
    T("¿cuánto cuesta el más barato?", mentions_any=[price(c["sku"]) for c in cheapest(find(["Handbag"], colour="black"))]),
])

conv("hb-ok-after-handback", P, customer("Jack Rowan"), [
    T("your last order messed up my whole weekend, get me someone who can fix it", "escalate"),
    HB(T("ok")),
    T("do you have scarves for men", mentions_any=skus(find(["Scarf", "Snood"], dept="Men's"))),
    T("thanks"),
])

# ================================================================ 6. Spanish
P = "spanish"

conv("es-greeting-product", P, customer("María González"), [
    T("hola!", mentions_any=HOLA),
    T("¿tienen vestidos rojos?", mentions_any=skus(find(DRESSES, colour="red"))),
    T("¿cuánto cuesta el más barato?", mentions_any=[price(c["sku"]) for c in cheapest(find(DRESSES, colour="red"))]),
    T("gracias!", mentions_any=GRACIAS),
])

conv("es-shipping", P, customer("José Martínez"), [
    T("buenas tardes", mentions_any=HOLA),
    T("¿cuánto cuesta el envío?", mentions_any=SHIP_COST),
    T("¿y el envío exprés?", mentions_any=EXPRESS),
    T("ok gracias", mentions_any=GRACIAS),
])

conv("es-returns", P, customer("Ana Torres", ["ZO0150301503"]), [
    T("hola, compré un vestido y no me queda bien", mentions_any=HOLA + RETURNS + ["cambi", "devol"]),
    T("¿puedo devolverlo?", mentions_any=RETURNS),
    T("¿cuándo me devuelven el dinero?", mentions_any=["5-7", "5–7", "5 a 7"]),
    T("vale, gracias", mentions_any=GRACIAS),
])

conv("es-order-status", P, crm_customer("+12065550103"), [
    T("hola", mentions_any=HOLA),
    T("¿dónde está mi pedido 589230?", mentions_any=STATUS[order("589230")["status"]]),
    T("ok y cuánto tarda en llegar una vez enviado?", mentions_any=["3-5", "3–5", "3 a 5", "1-2", "días hábiles"]),
    T("muchas gracias", mentions_any=GRACIAS),
])

conv("es-stock-sku", P, customer("Camila Ruiz"), [
    T("¿tienen ZO0172001720 en stock?", mentions_any=IN_STOCK + ["disponible", "sí", "tenemos"]),
    T("¿cuánto cuesta?", mentions_any=[price("ZO0172001720")]),
    T("¿en talla M?", mentions_any=MEDIUM),
])

conv("es-mixed-trainers", P, customer("Diego Herrera"), [
    T("hola, busco zapatillas blancas para hombre", mentions_any=skus([c for c in find(SNEAKERS, dept="Men's") if has_colour(c, "white")])),
    T("the cheapest one?", mentions_any=skus(cheapest([c for c in find(SNEAKERS, dept="Men's") if has_colour(c, "white")]))),
    T("perfecto gracias", mentions_any=GRACIAS + ["thank", "welcome"]),
])

conv("es-sold-out", P, customer("Valentina Cruz"), [
    T("¿está disponible el ZO0059900599?", mentions_any=SOLD_OUT),
    T("¿tienen otra blusa negra?", mentions_any=skus(find(["Blouse"], colour="black"))),
    T("gracias", mentions_any=GRACIAS),
])

conv("es-hours-bot", P, customer("Sebastián Mora"), [
    T("¿eres un robot?", mentions_any=BOT + ["robot"]),
    T("¿a qué hora abren?", mentions_any=HOURS),
    T("gracias", mentions_any=GRACIAS),
])

conv("es-coat-budget", P, customer("Paula Jiménez"), [
    T("busco un abrigo de invierno para mujer", mentions_any=skus(find(COATS, dept="Women's"))),
    T("¿algo por menos de 60?", mentions_any=skus(find(COATS, dept="Women's", hi=60))),
    T("¿de qué color es?", mentions_any=[c["colors"][0] for c in find(COATS, dept="Women's", hi=60)]),
    T("vale gracias", mentions_any=GRACIAS),
])

conv("es-order-shipped", P, crm_customer("+13125550105"), [
    T("buenos días, ¿me pueden decir el estado de mi pedido 713025?", mentions_any=STATUS[order("713025")["status"]]),
    T("¿y si no me queda el vestido?", mentions_any=RETURNS + ["cambi"]),
    T("genial gracias", mentions_any=GRACIAS),
])

conv("es-complement", P, customer("Isabel Navarro", ["ZO0267902679"]), [
    T("hola! ¿qué vestido combina con la chaqueta de punto gris que compré?", mentions_any=complements("ZO0267902679", ["ZO0267902679"], DRESSES), not_contains=["ZO0267902679"]),
    T("¿cuánto cuesta?", mentions_any=[price(x) for x in complements("ZO0267902679", ["ZO0267902679"], DRESSES)]),
    T("👍"),
])

conv("es-payment", P, customer("Andrés Castillo"), [
    T("hola, ¿aceptan paypal?", mentions_any=["paypal"]),
    T("¿y american express?", mentions_any=["american express", "amex", "sí"]),
    T("¿hacen envíos a méxico?", mentions_any=["estados unidos", "ee. uu", "eeuu", "ee.uu", "united states", "us only", "solo"]),
])

# ================================================================ 7. order status
P = "order"

for cid, phone, oid, follow in [
    ("os-shipped-1", "+13125550103", "584121", T("can i change the address?", "escalate")),
    ("os-processing-1", "+13125550107", "728996", T("ok how long does standard shipping take", mentions_any=["3-5", "3–5", "3 to 5"])),
    ("os-shipped-2", "+13125550108", "588025", T("can i return the heels if they dont fit", mentions_any=RETURNS)),
    ("os-shipped-3", "+12065550106", "730911", T("do you have the waist belt in black too?", mentions_any=skus(find(["Waist belt", "Belt"], colour="black", dept="Women's")))),
    ("os-delivered-1", "+13125550100", "579900", T("it says delivered but i never got it!!", "escalate")),
    ("os-shipped-4", "+12065550105", "585880", T("what if the boots are too small", mentions_any=["exchange", "30 days", "free"])),
    ("os-processing-2", "+12065550100", "591734", T("can you still add a scarf to it", "escalate")),
]:
    cust = crm_customer(phone)
    st = order(oid)["status"]
    opening = {"os-shipped-1": "hi, just wanted to check on the status of my order",
               "os-processing-1": "hey where's my stuff",
               "os-shipped-2": "hello",
               "os-shipped-3": "hi! quick question about an order",
               "os-delivered-1": "hi",
               "os-shipped-4": "good afternoon",
               "os-processing-2": "hey ho"}[cid]
    conv(cid, P, cust, [
        T(opening),
        T("order %s" % oid if cid != "os-processing-1" else "its order #%s" % oid, mentions_any=STATUS[st]),
        follow,
    ])

conv("os-no-number", P, crm_customer("+13125550102"), [
    T("has my order shipped yet?"),
    T("oh the chinos one, 554141", mentions_any=STATUS[order("554141")["status"]]),
    T("great thanks"),
])

# ================================================================ 8. must escalate / opt out mid-thread
P = "escalate"

conv("esc-lawyer", P, customer("Kevin Doyle", ["ZO0246202462"]), [
    T("do you have ankle boots in grey?", mentions_any=skus(find(["Ankle boots"], colour="grey"))),
    T("actually the last pair gave me blisters and my lawyer will be in touch", "escalate"),
    T("hello?", "none"),
])

conv("esc-chargeback", P, customer("Laura Finch", ["ZO0699406994"]), [
    T("hi"),
    T("i was charged twice for my handbag, if this isnt fixed today i'm filing a chargeback", "escalate"),
    T("??", "none"),
])

conv("esc-human", P, customer("Mason Reid"), [
    T("do you have a navy suit?", mentions_any=skus(find(["Suit", "Suit jacket"], colour="navy"))),
    T("let me talk to a human", "escalate"),
    T("thanks", "none"),
])

conv("esc-angry", P, customer("Nora Blake", ["ZO0170801708"]), [
    T("hey"),
    T("the shirt i ordered came in the wrong colour AGAIN. this is the second time. unacceptable", "escalate"),
    T("i want my money back", "none"),
])

conv("esc-fraud", P, customer("Oscar Diaz"), [
    T("whats your phone number", mentions_any=["1-800-555-0199", "800-555-0199", "800 555 0199"]),
    T("someone used my card on your site, i didn't place this order", "escalate"),
    T("please hurry", "none"),
])

conv("esc-spanish-complaint", P, customer("Rosa Medina", ["ZO0049800498"]), [
    T("hola", mentions_any=HOLA),
    T("el vestido llegó roto y nadie me responde, quiero hablar con un encargado", "escalate"),
    T("???", "none"),
])

P = "optout"

conv("oo-stop-texting", P, customer("Paul Wright"), [
    T("do you have socks?", mentions_any=skus(find(["Socks", "3 PACK", "2 PACK", "5 PACK", "4 PACK"], pred=lambda c: "sock" in c["title"].lower()))),
    T("hmm no"),
    T("please stop texting me", "opt_out"),
])

conv("oo-take-me-off", P, customer("Rachel Gold"), [
    T("hi"),
    T("how much is shipping", mentions_any=SHIP_COST),
    T("ok actually take me off your list, i dont want these messages", "opt_out"),
])

conv("oo-no-more", P, customer("Sam Turner"), [
    T("who is this"),
    T("what store is this?"),
    T("no more texts pls", "opt_out"),
])

conv("oo-spanish", P, customer("Teresa Vidal"), [
    T("hola", mentions_any=HOLA),
    T("¿qué es esto?"),
    T("ya no me manden mensajes por favor", "opt_out"),
])

conv("oo-unsubscribe-start", P, customer("Uma Patel"), [
    T("do you have tights?", mentions_any=skus(find(["Tights", "2 PACK"], pred=lambda c: "tights" in c["title"].lower()))),
    T("ok unsubscribe me", "opt_out"),
    T("START", "opt_in"),
    T("sorry changed my mind. do you have black tights?", mentions_any=skus(find(["Tights", "2 PACK"], colour="black", pred=lambda c: "tights" in c["title"].lower()))),
])

conv("oo-dont-text", P, customer("Vince Carter"), [
    T("is the ZO0027900279 pink?", mentions_any=["pink", "ZO0027900279", "yes"]),
    T("nah"),
    T("dont text me again", "opt_out"),
])


# ================================================================ validation and output

def short_small_talk():
    """Small talk with nothing to look up ("hmm", an emoji, "ok", a greeting) gets a short
    answer: at most 2 SMS segments."""
    for cv in CONVS:
        if cv["pattern"] != "smalltalk":
            continue
        for t in cv["turns"]:
            e = t["expect"]
            if e["action"] == "reply" and "mentions_any" not in e:
                e["max_segments"] = 2


def validate():
    phones = set()
    prices = {"%.2f" % c["price"] for c in CAT}
    for cv in CONVS:
        assert len(cv["turns"]) >= 3, cv["id"]
        p = cv["customer"]["phone"]
        assert p[:5] in ("+1312", "+1617", "+1206") and p[5:10] == "55501", p
        assert p not in phones, p
        phones.add(p)
        for o in cv["customer"]["orders"]:
            assert o["sku"] in SKU, o
        for t in cv["turns"]:
            e = t["expect"]
            assert e["action"] in ("reply", "escalate", "opt_out", "opt_in", "help", "none")
            for w in e.get("mentions_any", []) + e.get("not_contains", []):
                if w.startswith("ZO0") and " " not in w:
                    assert w in SKU, (cv["id"], w)
            if "mentions_any" in e:
                assert e["mentions_any"], (cv["id"], t["in"])
    for c in CAT:
        assert "%.2f" % c["price"] in prices
    return phones


def main():
    short_small_talk()
    validate()
    with open(OUT, "w") as f:
        for cv in CONVS:
            # The pattern is written as the transcript format's tag (the report breaks down
            # by tag).
            line = {k: v for k, v in cv.items() if k != "pattern"}
            line["tags"] = ["multiturn", "blind", cv["pattern"]]
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    by = collections.Counter(cv["pattern"] for cv in CONVS)
    turns = sum(len(cv["turns"]) for cv in CONVS)
    acts = collections.Counter(t["expect"]["action"] for cv in CONVS for t in cv["turns"])
    print("%d conversations, %d turns -> %s" % (len(CONVS), turns, OUT), file=sys.stderr)
    print("per pattern: %s" % dict(sorted(by.items())), file=sys.stderr)
    print("per action: %s" % dict(sorted(acts.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
