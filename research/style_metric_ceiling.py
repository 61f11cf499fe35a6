"""How high can style accuracy go, depending on what a take is judged against?

    .venv/bin/python research/style_metric_ceiling.py --data data/synthtalk [--split test] [--max-clips 8]

A perfect model would, given speaker j's recording and speaker k's identity, move
exactly as speaker k would to that recording. On SynthTalk that take can be made: it is
the generator run with k's parameters on the clip's phoneme timings. This script scores
those perfect takes with both judges ``evaluate`` knows: the recordings of the same
sentence by every speaker (all a captured dataset offers) and the counterfactual truth
(what ``evaluate`` uses on SynthTalk). A judge that fails the perfect model caps what
any model can reach on it; that is why the same-sentence judge is not used where the
counterfactual one exists.
"""

import argparse

import numpy as np

from diffusiontalker.batches import load_split
from diffusiontalker.data import speakers_of
from diffusiontalker.evaluate import (counterfactual_references, nearest_speaker, pick_evenly,
                                      same_sentence_references)
from diffusiontalker.regions import default_region_file, load_regions
from diffusiontalker.synthtalk.counterfactual import Counterfactuals


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a SynthTalk dataset")
    p.add_argument("--split", default="test")
    p.add_argument("--max-clips", type=int, default=8, help="clips, evenly chosen (default: 8, as in research/notebook.md)")
    args = p.parse_args()
    split = load_split("synthtalk", args.data, args.split)
    clips = pick_evenly(split, args.max_clips)
    idx = load_regions(default_region_file("vocaset_eval_regions.json"), clips[0].vertices.shape[1])["lve"]
    truth = Counterfactuals(args.data)
    speakers = speakers_of(args.data)["train"]
    judges = {"same sentence": same_sentence_references("synthtalk", args.data, idx, {args.split: split}),
              "counterfactual": counterfactual_references(truth, idx)}
    perfect = {clip.name: {k: truth.offsets(clip, k) for k in speakers} for clip in clips}
    print(f"perfect takes: {len(clips)} clips of '{args.split}' x {len(speakers)} training identities")
    print("| judge | style accuracy of the perfect model | cross-speaker takes only |\n|---|---|---|")
    for name, references in judges.items():
        hits, cross = [], []
        for clip in clips:
            refs = references(clip)
            for k, take in perfect[clip.name].items():
                hit = nearest_speaker(take, refs, idx) == k
                hits.append(hit)
                if k != clip.speaker:
                    cross.append(hit)
        print(f"| {name} | {np.mean(hits):.1%} ({len(hits)} takes) | {np.mean(cross):.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
