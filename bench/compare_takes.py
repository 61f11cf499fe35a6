"""Is one checkpoint ahead of another on real voices, or only by chance of the lines?

    .venv/bin/python bench/compare_takes.py A.json B.json [--score openness_r] [--resamples 10000]

A.json and B.json are ``bench/real_voices.py --json`` runs of two checkpoints on the same
lines. A mean over a few dozen lines of two or three voices moves by hundredths with the
lines drawn, so a lead is read from the lines both scored: per take kind (and per
speaker), the mean of B minus A line by line, the lines on which B is ahead, and a 95%
interval for that mean from a paired bootstrap over the lines (seed 0, so the interval
is the same every run). An interval that holds 0 says the lines cannot tell the two apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SCORES = ("openness_r", "bilabial_closure", "lag_frames", "range_mm", "rest_mm")


def paired(a: dict, b: dict, score: str) -> dict[tuple[str, str], list[tuple[str, float, float]]]:
    """(take, speaker) -> [(line, A's score, B's score)] over the lines both scored; the
    model's takes only, since the references do not depend on the checkpoint."""
    mine = {(r["take"], r["line"]): r for r in a["lines"]}
    out: dict[tuple[str, str], list] = {}
    for r in b["lines"]:
        other = mine.get((r["take"], r["line"]))
        if not r["take"].startswith("model") or other is None or r[score] is None or other[score] is None:
            continue
        out.setdefault((r["take"], r["speaker"]), []).append((r["line"], other[score], r[score]))
    return out


def interval(diffs: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% paired-bootstrap interval of the mean difference."""
    means = diffs[rng.integers(0, len(diffs), (resamples, len(diffs)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(a: dict, b: dict, score: str = "openness_r", resamples: int = 10_000) -> list[dict]:
    groups = paired(a, b, score)
    takes = list(dict.fromkeys(take for take, _ in groups))
    rows = []
    for take in takes:
        speakers = [s for t, s in groups if t == take]
        for speaker in speakers + (["all"] if len(speakers) > 1 else []):
            items = [i for s in speakers if speaker in ("all", s) for i in groups[(take, s)]]
            first, second = np.array([i[1] for i in items]), np.array([i[2] for i in items])
            diffs = second - first
            low, high = interval(diffs, resamples, np.random.default_rng(0))
            rows.append({"take": take, "speaker": speaker, "lines": len(items), "a": float(first.mean()),
                         "b": float(second.mean()), "b_minus_a": float(diffs.mean()), "low": low, "high": high,
                         "b_ahead": int((diffs > 0).sum()), "a_ahead": int((diffs < 0).sum())})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="bench/real_voices.py --json of the first checkpoint")
    p.add_argument("b", type=Path, help="the same of the second, on the same lines")
    p.add_argument("--score", choices=SCORES, default="openness_r", help="which per-line score (default: openness_r)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    args = p.parse_args(argv)
    a, b = (json.loads(path.read_text(encoding="utf-8")) for path in (args.a, args.b))
    rows = compare(a, b, args.score, args.resamples)
    if not rows:
        print(f"{args.a} and {args.b} share no line with a {args.score}: were they run on the same voices?",
              file=sys.stderr)
        return 2
    print(f"A = {a['checkpoint']}\nB = {b['checkpoint']}\n{args.score}, B minus A, line by line:\n")
    print("| take | speaker | lines | A | B | B − A | 95% interval | B ahead / A ahead |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['take']} | {r['speaker']} | {r['lines']} | {r['a']:.3f} | {r['b']:.3f} | {r['b_minus_a']:+.3f} "
              f"| {r['low']:+.3f} to {r['high']:+.3f} | {r['b_ahead']} / {r['a_ahead']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
