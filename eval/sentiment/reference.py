"""Python's vaderSentiment on the VADER ground-truth sets, with the metrics of
`backtalk bench sentiment` (Pearson r with the human means; 3-class macro-F1, human mean
split at +/-0.5, the compound split at +/-0.5 and at VADER's +/-0.05; time per text).

    eval/sentiment/run_reference.sh [--data DIR]

The last line printed is JSON.
"""

import argparse
import json
import math
import time
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

FILES = [("tweets", "tweets_GroundTruth.txt"), ("product reviews", "amazonReviewSnippets_GroundTruth.txt")]


def load(path: Path) -> list[tuple[float, str]]:
    rows = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        _, mean, text = line.split("\t", 2)
        rows.append((float(mean), text))
    return rows


def pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def cls(value: float, threshold: float) -> int:
    return 2 if value > threshold else 0 if value < -threshold else 1


def macro_f1(truth: list[int], predicted: list[int]) -> float:
    total = 0.0
    for c in range(3):
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        total += 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return total / 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/vader_groundtruth")
    args = parser.parse_args()
    analyzer = SentimentIntensityAnalyzer()
    analyzer.polarity_scores("warm up")
    report = {}
    print(f"{'file':<16} {'scorer':<26} {'r':>6} {'F1 ±0.5':>9} {'F1 ±0.05':>10} {'p50 µs':>9} {'p99 µs':>9}")
    for name, file in FILES:
        rows = load(args.data / file)
        scores, micros = [], []
        for _, text in rows:
            started = time.perf_counter()
            scores.append(analyzer.polarity_scores(text)["compound"])
            micros.append((time.perf_counter() - started) * 1e6)
        human = [h for h, _ in rows]
        truth = [cls(h, 0.5) for h in human]
        f1 = macro_f1(truth, [cls(s, 0.5) for s in scores])
        f1_vader = macro_f1(truth, [cls(s, 0.05) for s in scores])
        micros.sort()
        p50, p99 = micros[int((len(micros) - 1) * 0.5)], micros[int((len(micros) - 1) * 0.99)]
        r = pearson(scores, human)
        print(f"{name:<16} {'vaderSentiment (Python)':<26} {r:>6.4f} {f1:>9.4f} {f1_vader:>10.4f} {p50:>9.1f} {p99:>9.1f}")
        report[name.replace(" ", "_")] = {
            "n": len(rows), "pearson_r": r, "macro_f1": f1, "macro_f1_vader_cut": f1_vader, "p50_us": p50, "p99_us": p99,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
