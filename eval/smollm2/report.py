"""Reports a run of Backtalk against a real model (see run.sh): what the guard caught, an
independent re-check of every reply that was sent, prompt tokens and reply segments.

The re-check is written here, apart from the Rust guard, so a bug in the guard is not
also a bug in its check: every dollar amount sent must be a price of a product retrieved
for that turn, an amount in a retrieved policy, or an amount of the customer's own orders;
every percentage must be in a retrieved policy; every sku must be retrieved or ordered;
"in stock" next to a sku must be true; no link may be sent (the demo allows none); and no
placeholder or markup (angle brackets) may be sent; an order status said of the customer's
order must be the status of their latest order.
"""

import argparse
import collections
import json
import re
import sqlite3
import statistics

MONEY = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?")
PERCENT = re.compile(r"(\d{1,3})\s*(?:%|percent)", re.I)
SKU = re.compile(r"\bZO\d{10}\b")
# A status word said of an order, and the order statuses that make it true.
STATUS_WORDS = {
    "delivered": {"delivered"},
    "arrived": {"delivered"},
    "shipped": {"shipped", "delivered"},
    "on its way": {"shipped"},
    "in transit": {"shipped"},
    "processing": {"processing"},
    "cancelled": {"cancelled"},
    "canceled": {"cancelled"},
    "refunded": {"refunded"},
}
LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|net|org|io|shop|store)\b", re.I)


def cents(match):
    whole = int(match.group(1).replace(",", ""))
    return whole * 100 + int(match.group(2) or 0)


def recheck(reply, turn, db):
    """The claims of a sent reply that the turn's facts do not support, as strings."""
    retrieved = json.loads(turn["retrieved"])
    skus = [p["sku"] for p in retrieved.get("products", [])]
    policy_ids = [p["id"] for p in retrieved.get("policies", [])]
    products = {}
    for sku in skus:
        row = db.execute("select price_cents, sale_price_cents, stock from products where sku = ?", (sku,)).fetchone()
        if row:
            products[sku] = row
    policies = " ".join(
        db.execute("select body from policies where id = ?", (pid,)).fetchone()[0] for pid in policy_ids
    )
    orders = db.execute(
        """select o.total_cents, i.price_cents, i.sku from orders o join customers c on c.id = o.customer_id
           left join order_items i on i.order_id = o.id where c.phone = ?""",
        (turn["phone"],),
    ).fetchall()
    allowed_cents = {p[0] for p in products.values()} | {p[1] for p in products.values() if p[1]}
    allowed_cents |= {cents(m) for m in MONEY.finditer(policies)}
    allowed_cents |= {o[0] for o in orders} | {o[1] for o in orders if o[1]}
    ordered = {o[2] for o in orders if o[2]}
    problems = []
    for m in MONEY.finditer(reply):
        if cents(m) not in allowed_cents:
            problems.append(f"amount {m.group(0)}")
    for m in PERCENT.finditer(reply):
        if m.group(1) + "%" not in policies.replace(" percent", "%"):
            problems.append(f"percentage {m.group(0)}")
    for sku in SKU.findall(reply):
        if sku not in products and sku not in ordered:
            problems.append(f"sku {sku}")
    for sentence in re.split(r"(?<=[.!?])\s+", reply):
        if "in stock" in sentence.lower() and "out of stock" not in sentence.lower():
            for sku in SKU.findall(sentence):
                if sku in products and products[sku][2] <= 0:
                    problems.append(f"stock of {sku}")
    latest = db.execute(
        """select o.status from orders o join customers c on c.id = o.customer_id where c.phone = ?
           order by o.ordered_at desc limit 1""",
        (turn["phone"],),
    ).fetchone()
    for sentence in re.split(r"(?<=[.!?])\s+", reply):
        low = sentence.lower()
        if not re.search(r"\b(order|package|parcel|it)\b", low) or re.search(r"\b(once|when|after|if)\b", low):
            continue
        for word, true_for in STATUS_WORDS.items():
            if re.search(rf"\b{word}\b", low) and (latest is None or latest[0] not in true_for):
                problems.append(f"order status '{word}' (latest order: {latest[0] if latest else 'none'})")
    if LINK.search(reply):
        problems.append("a link")
    if "<" in reply or ">" in reply:
        problems.append("a placeholder or markup")
    return problems


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--transcripts", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    db = sqlite3.connect(args.db)
    db.row_factory = sqlite3.Row
    turns = db.execute(
        """select t.id, t.decision, t.model, t.prompt_tokens, t.retrieved, t.guard, t.draft, t.reply, t.confidence,
                  t.error, m.id as message_id, m.body as text, m.from_phone as phone
           from turns t join messages m on m.id = t.inbound_message_id order by t.id"""
    ).fetchall()
    expected = {}
    for line in open(args.transcripts):
        if line.strip():
            c = json.loads(line)
            for t in c["turns"]:
                expected[(c["customer"]["phone"], t["in"])] = t.get("expect", {}).get("action")

    decisions = collections.Counter(t["decision"] for t in turns)
    caught = collections.Counter()
    verdicts = collections.Counter()
    reasons = collections.Counter()
    prompt_server, prompt_counted, segments, cuts = [], [], [], 0
    sent_problems, lines, llm_errors = [], [], 0
    for t in turns:
        # The guard's verdict on a draft; a turn without one (the model failed) has none.
        guard = json.loads(t["guard"]) if t["draft"] else {}
        if guard.get("verdict"):
            verdicts[guard["verdict"]] += 1
        for f in guard.get("findings", []):
            caught[f["kind"]] += 1
        for e in db.execute("select details from escalations where turn_id = ?", (t["id"],)):
            for r in json.loads(e[0]).get("reasons", []):
                reasons[r["code"]] += 1
        retrieved = json.loads(t["retrieved"])
        if t["model"] and t["model"] != "offline-responder" and t["prompt_tokens"]:
            prompt_server.append(t["prompt_tokens"])
            prompt_counted.append(retrieved.get("prompt", {}).get("tokens_counted", 0))
            cuts += bool(retrieved.get("prompt", {}).get("cuts"))
        if t["error"]:
            llm_errors += 1
        sent = db.execute(
            "select body from outbox where in_reply_to = ? and kind = 'reply'", (t["message_id"],)
        ).fetchall()
        for (body,) in sent:
            segments.append(guard.get("segments", 0))
            problems = recheck(body, t, db)
            if problems:
                sent_problems.append({"turn": t["id"], "text": body, "problems": problems})
        lines.append(
            f"[{t['decision']}] {t['text']!r}\n  draft: {t['draft']!r}\n  sent:  {[b for (b,) in sent]!r}\n"
            f"  guard: {guard.get('verdict')} {[f['kind'] for f in guard.get('findings', [])]}  "
            f"confidence {t['confidence']:.2f}{'  error: ' + t['error'] if t['error'] else ''}"
        )
    graded = [(t, expected.get((t["phone"], t["text"]))) for t in turns]
    graded = [(t, e) for t, e in graded if e]
    report = {
        "turns": len(turns),
        "decisions": dict(decisions),
        "action_accuracy": round(sum(t["decision"] == e for t, e in graded) / len(graded), 3) if graded else None,
        "guard_verdicts": dict(verdicts),
        "guard_caught": dict(caught),
        "escalation_reasons": dict(reasons),
        "llm_errors": llm_errors,
        "replies_sent": len(segments),
        "unsupported_claims_sent": sum(len(p["problems"]) for p in sent_problems),
        "unsupported_sent": sent_problems,
        "prompt_tokens_server_p50": statistics.median(prompt_server) if prompt_server else None,
        "prompt_tokens_tiktoken_p50": statistics.median(prompt_counted) if prompt_counted else None,
        "prompt_tokens_tiktoken_p95": percentile(prompt_counted, 0.95),
        "prompts_cut": cuts,
        "segments_p50": statistics.median(segments) if segments else None,
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    with open(args.out.replace(".json", ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "unsupported_sent"}, indent=2))
    if sent_problems:
        print("UNSUPPORTED CLAIMS SENT:", json.dumps(sent_problems, indent=2))


if __name__ == "__main__":
    main()
