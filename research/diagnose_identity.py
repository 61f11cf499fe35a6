"""Where does a take's talking style come from: the identity embedding or the voice?

    .venv/bin/python research/diagnose_identity.py --data data/synthtalk [--checkpoint CK] [--sentence sentence37]

For one held-out sentence said by every training speaker, compares style signatures
(the ones ``evaluate`` uses for style accuracy) three ways: the ground truth of
different speakers (how far apart styles really are), takes of one recording under
each identity (what the identity changes), and takes of each speaker's recording
under one identity (what the voice changes); then whether the take made with identity
k lies nearer speaker k's truth than the others' truth, the truth being what SynthTalk's
generator makes each speaker do with that same recording. If the voice moved the
signature as far as the truth does while the identity hardly moved it, the network
would have learnt the style from the voice. Last, how much of the truth's spread
between speakers the identities reproduce (1 would be all of it), and how a take's
error splits into the part every identity shares and the identity's own part.
"""

import argparse
import itertools
import sys

import numpy as np

from diffusiontalker.audio import SAMPLE_RATE
from diffusiontalker.batches import load_split
from diffusiontalker.evaluate import sentence_of, style_signature
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import default_region_file, load_regions
from diffusiontalker.synthtalk.counterfactual import Counterfactuals


def mean_distance(signatures: list[np.ndarray]) -> float:
    return float(np.mean([np.linalg.norm(a - b) for a, b in itertools.combinations(signatures, 2)]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    p.add_argument("--sentence", default="sentence37")
    args = p.parse_args()
    gen = Generator.load(args.checkpoint, "cpu")
    clips = [c for c in load_split("synthtalk", args.data, "test")
             if sentence_of(c) == args.sentence and c.speaker in gen.identity_names]
    if len(clips) < 2:
        print(f"{args.data}: fewer than two training speakers say {args.sentence}", file=sys.stderr)
        return 2
    idx = load_regions(default_region_file("vocaset_eval_regions.json"), clips[0].vertices.shape[1])["lve"]

    def take(clip, style):
        return style_signature(gen.generate(clip.audio, SAMPLE_RATE, style=style, seed=0).offsets, idx)

    truth = [style_signature(c.vertices - c.template[None], idx) for c in clips]
    # what each speaker would have done with the first recording: the truth for its takes
    counterfactual = Counterfactuals(args.data)
    truth_here = [style_signature(counterfactual.offsets(clips[0], c.speaker), idx) for c in clips]
    per_identity = [take(clips[0], c.speaker) for c in clips]
    per_voice = [take(c, clips[0].speaker) for c in clips]
    print(f"{args.sentence}, {len(clips)} speakers, checkpoint {gen.checkpoint_path}")
    print("| signatures compared | mean pairwise distance |\n|---|---|")
    print(f"| ground truth, speaker against speaker (their own recordings) | {mean_distance(truth):.4f} |")
    print(f"| ground truth, speaker against speaker (all on {clips[0].speaker}'s recording) | "
          f"{mean_distance(truth_here):.4f} |")
    print(f"| one recording ({clips[0].speaker}), each identity | {mean_distance(per_identity):.4f} |")
    print(f"| each speaker's recording, one identity ({clips[0].speaker}) | {mean_distance(per_voice):.4f} |")
    own = np.mean([np.linalg.norm(s - t) for s, t in zip(per_identity, truth_here)])
    other = np.mean([np.linalg.norm(s - t) for i, s in enumerate(per_identity) for j, t in enumerate(truth_here)
                     if i != j])
    print(f"| take with identity k, against speaker k's truth | {own:.4f} |")
    print(f"| take with identity k, against the other speakers' truth | {other:.4f} |")
    # How much of the real difference between speakers do the identities reproduce? Split
    # each take's error into the part all identities share (the sentence itself) and the
    # identity's own part, and regress the identities' spread onto the truth's.
    S, T = np.stack(per_identity), np.stack(truth_here)
    dS, dT = S - S.mean(0), T - T.mean(0)
    shared = (S - T).mean(0)
    print(f"\nidentity-specific part of the takes: {(dS * dT).sum() / (dT * dT).sum():.2f} of the truth's size, "
          f"correlation {(dS * dT).sum() / np.sqrt((dS * dS).sum() * (dT * dT).sum()):.2f}; "
          f"error shared by all identities {np.linalg.norm(shared):.4f}, "
          f"identity's own error {np.linalg.norm(S - T - shared, axis=1).mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
