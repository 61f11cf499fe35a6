"""How close each identity's takes must come to its speaker for the style judge, and how close they come.

    .venv/bin/python research/style_margins.py --data data/synthtalk --max-clips 32 \
        [--checkpoint core/assets/demo.json]

``evaluate``'s style judge calls a take made with identity k right when its style
signature is nearer speaker k's truth than any other speaker's. How hard that is
depends on the speaker: one whose nearest neighbour moves almost alike leaves a take
little room. Per identity, over SynthTalk's test clips, this prints that room (the
distance from the speaker's truth to the nearest other speaker's truth), the take's
distance from its own truth, how far two seeds of the same take lie apart (what the
sampler's own variety costs), the judge's accuracy, where its misses land, and the
accuracy when only the training speakers are candidates. A take can only be judged
reliably right when its error is well under half its room.
"""

import argparse
import sys
from collections import Counter

import numpy as np

from diffusiontalker.evaluate import nearest_rows
from style_error import add_clip_flags, judged_clips, signatures, takes


def margins(truths: list[np.ndarray], own: np.ndarray) -> tuple[np.ndarray, list[Counter]]:
    """Per clip and identity, the distance from its speaker's truth to the nearest other
    speaker's, and per identity which speakers those nearest ones are."""
    room, nearest = [], [Counter() for _ in own]
    for truth in truths:
        d = np.linalg.norm(truth[own][:, None] - truth[None], axis=-1)
        d[np.arange(len(own)), own] = np.inf
        room.append(d.min(axis=1))
        for k, j in enumerate(d.argmin(axis=1)):
            nearest[k][j] += 1
    return np.array(room), nearest


def report(first: list[np.ndarray], second: list[np.ndarray], truths: list[np.ndarray], own: np.ndarray,
           speakers: list[str]) -> list[dict]:
    """``first``, ``second``: per clip every identity's take with two seeds (signatures);
    ``truths``: per clip every speaker's truth (signatures)."""
    room, nearest = margins(truths, own)
    rows = []
    for k, row in enumerate(own):
        judged = [int(nearest_rows(s[k:k + 1], t)[0]) for s, t in zip(first, truths)]
        among_trained = [int(nearest_rows(s[k:k + 1], t[own])[0]) == k for s, t in zip(first, truths)]
        misses = Counter(speakers[j] for j in judged if j != row)
        rows.append({
            "identity": speakers[row],
            "nearest_speaker": speakers[nearest[k].most_common(1)[0][0]],
            "room": float(room[:, k].mean()),
            "take_error": float(np.mean([np.linalg.norm(s[k] - t[row]) for s, t in zip(first, truths)])),
            "seed_distance": float(np.mean([np.linalg.norm(a[k] - b[k]) for a, b in zip(first, second)])),
            "accuracy": float(np.mean([j == row for j in judged])),
            "accuracy_among_trained": float(np.mean(among_trained)),
            "misses": dict(misses.most_common()),
        })
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clip_flags(p)
    p.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    args = p.parse_args()
    truth, clips, idx, motions = judged_clips(args)
    truths = [signatures(m) for m in motions]
    made, own = takes(args.checkpoint, clips, idx, truth.speakers, seed=0)
    again, _ = takes(args.checkpoint, clips, idx, truth.speakers, seed=1)
    rows = report([signatures(m) for m in made], [signatures(m) for m in again], truths, own, truth.speakers)
    print(f"{args.split}, {len(clips)} clips, {args.checkpoint or 'bundled checkpoint'}\n")
    print("| identity | nearest other speaker | room | take error | seed 0 to seed 1 | style | "
          "among training speakers | misses land on |\n|---|---|---|---|---|---|---|---|")
    for r in rows + [{"identity": "all", "nearest_speaker": "",
                      **{key: float(np.mean([r[key] for r in rows]))
                         for key in ("room", "take_error", "seed_distance", "accuracy", "accuracy_among_trained")},
                      "misses": {}}]:
        print(f"| {r['identity']} | {r['nearest_speaker']} | {r['room']:.4f} | {r['take_error']:.4f} | "
              f"{r['seed_distance']:.4f} | {r['accuracy']:.1%} | {r['accuracy_among_trained']:.1%} | "
              + ", ".join(f"{name} ×{n}" for name, n in r["misses"].items()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
