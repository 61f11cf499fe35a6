"""What stands between a checkpoint and the style-accuracy target: where its style error lives.

    .venv/bin/python research/style_error.py --data data/synthtalk \
        --checkpoint core/assets/demo.json --checkpoint runs/baseline/baseline.json

``evaluate`` judges a take made with identity k right when its style signature (each
mouth vertex's mean offset and its spread over the clip) is nearer speaker k's truth
than any other speaker's. On SynthTalk's test clips, every identity's take of each clip
is compared with what the generator makes every speaker do with that audio, and the
error is taken apart three ways:

- *shared* (the same for every identity of a clip: how the audio was read) against
  *own* (the identity's); ``evaluate``'s relative style is the accuracy without the
  shared part;
- the signature's *mean-offset* half against its *spread* half (accuracy with the
  true mean offsets put in, with the true spreads put in);
- *systematic*: the part of the shared error that is the same on every clip, a constant
  per-vertex offset (the accuracy with it removed, each clip's estimate taken from the other
  clips so nothing is fitted to the clip judged);
- *before the first sound*: the accuracy with the true motion put in over the silence
  that opens each clip, where the mouth already moves for the first sound (anticipation);
- *the shared mean offsets*: the accuracy with each clip's shared mean-offset error taken
  out (a bound, since it uses the truth), the share of that error's variance across clips
  in its two main directions, and how each direction follows the clip's pace (phonemes
  per second) and its share of speech: what of the audio the model misreads;
- *the identities' differences pushed* 1.5 times further from their mean signature: if
  the model's identities were too alike, this would lift the judge;
- *frame by frame*: the same nearest-truth rule on the motion itself (each take's mean
  lip-vertex distance to every truth, which share the clip's timing), to show that the
  signature is not the harder judge.

A deterministic regression model reads the same audio with the same encoder, so giving
it as a second checkpoint shows whether the shared error belongs to diffusion or to the
audio reading both of them learnt.
"""

import argparse
import sys

import numpy as np

from diffusiontalker.audio import SAMPLE_RATE
from diffusiontalker.batches import SILENCE, load_split
from diffusiontalker.evaluate import nearest_rows, pick_evenly, style_signature
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import default_region_file, load_regions
from diffusiontalker.synthtalk.counterfactual import Counterfactuals


def signatures(motion: np.ndarray) -> np.ndarray:
    """(K, T, V, 3) takes, already cut to the judged region -> (K, 2*V*3), spread half first."""
    return np.stack([style_signature(m, slice(None)) for m in motion])


def takes(checkpoint, clips, idx, speakers: list[str], seed: int = 0):
    """Every identity's take of each clip, and each identity's row among ``speakers``."""
    gen = Generator.load(checkpoint, "cpu")
    made = [np.stack([gen.generate(clip.audio, SAMPLE_RATE, style=k, seed=seed).offsets[:len(clip.vertices)][:, idx]
                      for k in range(len(gen.identity_names))]) for clip in clips]
    return made, np.array([speakers.index(name) for name in gen.identity_names])


def silent_opening(clip) -> int:
    """Frames before the clip's first sound."""
    first = min((start for start, _, name in clip.phonemes if not name.startswith(SILENCE)), default=0.0)
    return int(np.ceil(first * clip.fps))


def pace(clip) -> tuple[float, float]:
    """(phonemes per second, share of the clip that is speech)."""
    seconds = len(clip.vertices) / clip.fps
    spoken = [(start, end) for start, end, name in clip.phonemes if not name.startswith(SILENCE)]
    return len(spoken) / seconds, sum(end - start for start, end in spoken) / seconds


def shared_directions(errors: np.ndarray, paces: np.ndarray) -> dict:
    """(clips, S) shared mean-offset errors, (clips, 2) paces -> variance share of the two
    main directions of the errors' clip-to-clip variation, and each direction's |Pearson r|
    with the pace and with the share of speech."""
    centred = errors - errors.mean(0)
    _, sv, directions = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ directions[:2].T
    return {"variance_share": (sv[:2] ** 2 / (sv ** 2).sum()).tolist(),
            "r_pace": [float(abs(np.corrcoef(coords[:, i], paces[:, 0])[0, 1])) for i in range(2)],
            "r_speech": [float(abs(np.corrcoef(coords[:, i], paces[:, 1])[0, 1])) for i in range(2)]}


def report(made: list[np.ndarray], truths: list[np.ndarray], own_truth: np.ndarray, openings: list[int],
           paces: np.ndarray) -> dict:
    """``truths``: per clip every speaker's truth, the unseen ones too, as in ``evaluate``;
    ``own_truth[k]``: the row of identity k's speaker among them; ``openings``: per clip
    the frames before its first sound; ``paces``: per clip its ``pace``."""
    half = signatures(made[0]).shape[1] // 2
    offsets = [(s - t[own_truth]).mean(axis=(0, 1)) for s, t in zip(made, truths)]  # shared, per vertex
    rows = {"as judged": [], "true mean offsets put in": [], "true spreads put in": [],
            "systematic offset removed": [], "true motion before the first sound put in": [],
            "shared mean-offset error taken out": [], "identities' differences pushed ×1.5": [],
            "frame by frame": []}
    shared, own, shared_means = [], [], []
    for i, (take, truth, opening) in enumerate(zip(made, truths, openings)):
        s, t = signatures(take), signatures(truth)
        mine = t[own_truth]
        anticipated = take.copy()
        anticipated[:, :opening] = truth[own_truth, :opening]
        err = s - mine
        common = err.mean(0)
        shared.append(np.linalg.norm(common))
        shared_means.append(common[half:])
        own.append(np.linalg.norm(err - common, axis=1).mean())
        systematic = np.mean([o for j, o in enumerate(offsets) if j != i], axis=0)
        for row, judged in (("as judged", s),
                            ("true mean offsets put in", np.concatenate([s[:, :half], mine[:, half:]], 1)),
                            ("true spreads put in", np.concatenate([mine[:, :half], s[:, half:]], 1)),
                            ("systematic offset removed", signatures(take - systematic)),
                            ("true motion before the first sound put in", signatures(anticipated)),
                            ("shared mean-offset error taken out",
                             np.concatenate([s[:, :half], s[:, half:] - common[half:]], 1)),
                            ("identities' differences pushed ×1.5", s.mean(0) + 1.5 * (s - s.mean(0)))):
            rows[row] += list(nearest_rows(judged, t) == own_truth)
        frame_distance = np.linalg.norm(take[:, None] - truth[None], axis=-1).mean(axis=(2, 3))
        rows["frame by frame"] += list(frame_distance.argmin(axis=1) == own_truth)
    return {"accuracy": {k: float(np.mean(v)) for k, v in rows.items()},
            "shared": float(np.mean(shared)), "own": float(np.mean(own)),
            "systematic_xyz_mm": (np.mean(offsets, axis=0).mean(0) * 1000).tolist(),
            "directions": shared_directions(np.array(shared_means), paces)}


def add_clip_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="a SynthTalk folder (its generator gives every speaker's truth)")
    p.add_argument("--split", default="test")
    p.add_argument("--max-clips", type=int, default=8)


def judged_clips(args):
    """(SynthTalk's generator, the clips judged, the judged lip region, per clip every
    speaker's truth over that region): what every style diagnostic compares takes with."""
    truth = Counterfactuals(args.data)
    clips = pick_evenly(load_split("synthtalk", args.data, args.split), args.max_clips)
    idx = load_regions(default_region_file("vocaset_eval_regions.json"), clips[0].vertices.shape[1])["lve"]
    return truth, clips, idx, [np.stack([truth.offsets(clip, s)[:, idx] for s in truth.speakers]) for clip in clips]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clip_flags(p)
    p.add_argument("--checkpoint", action="append", help="repeat to compare (default: the bundled checkpoint)")
    args = p.parse_args()
    truth, clips, idx, truths = judged_clips(args)
    openings = [silent_opening(clip) for clip in clips]
    paces = np.array([pace(clip) for clip in clips])
    results = {}
    for checkpoint in args.checkpoint or [None]:
        made, own_truth = takes(checkpoint, clips, idx, truth.speakers)
        results[checkpoint or "bundled demo"] = report(made, truths, own_truth, openings, paces)
    names = list(results)
    print(f"{args.split}, {len(clips)} clips, every identity's take of each\n")
    print("| style accuracy | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for row in results[names[0]]["accuracy"]:
        print(f"| {row} | " + " | ".join(f"{results[n]['accuracy'][row]:.1%}" for n in names) + " |")
    print("| signature error shared by the identities | " + " | ".join(f"{results[n]['shared']:.4f}" for n in names) + " |")
    print("| signature error of the identity's own | " + " | ".join(f"{results[n]['own']:.4f}" for n in names) + " |")
    print("| systematic offset x, y, z (mm) | " + " | ".join(
        ", ".join(f"{v:+.2f}" for v in results[n]["systematic_xyz_mm"]) for n in names) + " |")
    for key, row in (("variance_share", "shared mean-offset error: variance share of directions 1, 2"),
                     ("r_pace", "directions 1, 2: |r| with phonemes per second"),
                     ("r_speech", "directions 1, 2: |r| with the share of speech")):
        print(f"| {row} | " + " | ".join(
            ", ".join(f"{v:.2f}" for v in results[n]["directions"][key]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
