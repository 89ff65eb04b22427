#!/usr/bin/env python3
"""Converts two public data sets into eval transcripts (re-runnable, deterministic).

  python3 eval/sets/convert_public_sets.py [DATA_DIR]   (default ../shared/data)

1. CLINC150 (clinc/oos-eval, data_full.json, CC BY 3.0; Larson et al., EMNLP 2019): every
   fifth text of the `oos_test` split (200 of 1,000), each a one-turn conversation from a
   known demo customer, expecting that nothing sent states a checkable fact (`no_facts`):
   the store cannot answer "how do I change a tire", so the bot must decline or hand over,
   never invent. Written to eval/transcripts/clinc150_oos.jsonl.

2. ABCD (asappresearch/abcd, abcd_sample.json, MIT; Chen et al., NAACL 2021): the customer's
   side of each retail support dialogue, in order. The first text that states the request
   expects what our store can do with it: questions answered by store policy
   (`storewide_query`) expect a reply; anything needing an account or order action
   (returns, refunds, defects, account changes) expects `escalate`, after which a person
   owns the conversation and later texts expect `none`. ABCD's own customer names, e-mails
   and phone numbers are replaced. Written to eval/transcripts/abcd.jsonl.
"""

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
OUT = ROOT / "eval" / "transcripts"
DEMO_PHONES = [json.loads(l)["phone"] for l in open(ROOT / "demo" / "store" / "customers.jsonl")]

# CLINC150 out-of-scope.
clinc = json.load(open(DATA / "clinc150" / "data_full.json"))
oos = [text for text, intent in clinc["oos_test"] if intent == "oos"][::5]
with open(OUT / "clinc150_oos.jsonl", "w") as f:
    for n, text in enumerate(oos):
        convo = {"id": f"clinc150-oos-{n + 1:03d}", "customer": {"phone": DEMO_PHONES[n % len(DEMO_PHONES)]},
                 "turns": [{"in": text, "expect": {"no_facts": True}}], "tags": ["clinc150_oos"]}
        f.write(json.dumps(convo) + "\n")
print(f"clinc150: {len(oos)} out-of-scope texts -> eval/transcripts/clinc150_oos.jsonl")

# ABCD.
ANSWERABLE_FLOWS = {"storewide_query", "shipping_issue"}
abcd = json.load(open(DATA / "abcd" / "abcd_sample.json"))
with open(OUT / "abcd.jsonl", "w") as f:
    for n, dialogue in enumerate(abcd):
        flow = dialogue["scenario"]["flow"]
        personal = dialogue["scenario"]["personal"]
        secrets = [personal.get(k, "") for k in ("customer_name", "email", "phone", "username")]
        secrets += personal.get("customer_name", "").split()

        def scrub(text):
            for s in sorted(filter(None, secrets), key=len, reverse=True):
                text = re.sub(re.escape(s), "<redacted>", text, flags=re.IGNORECASE)
            return text

        said = [scrub(text) for speaker, text in dialogue["original"] if speaker == "customer"]
        first = "reply" if flow in ANSWERABLE_FLOWS else "escalate"
        turns = [{"in": said[0], "expect": {"action": first}}]
        for text in said[1:]:
            turns.append({"in": text, "expect": {"action": "none"} if first == "escalate" else {}})
        products = ast.literal_eval(dialogue["scenario"].get("order", {}).get("products", "[]"))
        convo = {"id": f"abcd-{dialogue['convo_id']}", "customer": {"phone": DEMO_PHONES[n]}, "turns": turns,
                 "tags": ["abcd", f"abcd_{flow}"]}
        f.write(json.dumps(convo) + "\n")
        print(f"abcd {dialogue['convo_id']}: {flow}/{dialogue['scenario']['subflow']}, {len(turns)} texts,"
              f" first expects {first} ({len(products)} product(s) in the scenario's order)")
