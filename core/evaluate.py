"""``diffusiontalker evaluate``: the field's metrics, and the ones DiffusionTalker's claims need.

- LVE: per frame, the max over lip vertices of the *squared* L2 error, averaged over
  all frames (as FaceFormer/FaceDiffuser's code computes it); also its root in mm.
- FDD: per upper-face vertex, std over time of its squared displacement from the
  neutral; ground truth minus prediction, mean over vertices, then sequences.
- Diversity: mean pairwise mean-vertex L2 between takes of the same audio, across
  seeds and across identities.
- Style accuracy: conditioned on speaker k, is the output's *style signature* (each
  mouth vertex's motion std and mean offset over the clip) closer to speaker k's truth
  than to any other speaker's? The truth of speaker k for this audio: on SynthTalk,
  what its generator makes k do with the clip's own phoneme timings
  ("counterfactual"); elsewhere, k's recording of the same sentence ("same sentence"),
  compared by signature because k said it at another pace. The second is a weak judge:
  with it even SynthTalk's generator scores only 68.8% (research/style_metric_ceiling.py).
  "Own style" asks the same of the take made with the style evaluated (the clip's
  speaker, or what ``style_of`` chose): is it nearest its speaker's truth?
  "Relative style" judges the identities' *differences*: take k's signature minus the
  mean of all identities' takes, against each speaker's truth minus the mean of those
  speakers' truths. It removes what every take of the clip shares (the audio's part,
  and any error in it), so it says whether the identity moves the motion the way the
  speaker differs, which the absolute judge mixes with how well the audio was read.
- Auto style: does the personaliser pick the clip's own speaker from its audio?
- Bilabial closure: share of p/b/m segments in which the lips close (opening under
  1 mm at some frame of the segment, ±1 frame); openness correlation: Pearson r of
  predicted and true mouth opening over time. Both need phoneme timings.
- Real-time factor: compute seconds per audio second.

Phonetic scores (``phonetic_scores``) judge a take of any recording from its timed
phones alone, with no captured motion to compare against, so real voices can be
checked: p/b/m closure as above; per-phone openness r, the Pearson r over the
non-silent phone segments between the take's mean mouth opening in each and that
phone's openness in ``OPENNESS_MM`` (the steady lip opening SynthTalk's rig gives the
phone, averaged over its speakers: our articulation's phonetics, not a measured
one); lag, the shift within ±10 frames that best correlates the take's opening curve
with a phone-timed reference's (SynthTalk articulating the same phones with a
neutral speaker, no lead), positive when the face is late; range, the 95th minus
the 5th percentile of the opening (mm); rest, the mean |opening| (mm) inside pauses
of over 0.3 s, 0.1 s away from their edges.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time

import numpy as np

from .argtypes import (DEFAULT_VARIATION, add_dataset_flag, add_device_flag, add_guidance_flag, add_variation_flag,
                       positive_int)
from .audio import SAMPLE_RATE
from .regions import CLOSED_MM, lip_gap, mouth_landmarks

BILABIALS = {"p", "b", "m"}

DESCRIPTION = """\
Evaluate one or more checkpoints on a dataset split and write JSON and Markdown.

  diffusiontalker evaluate --checkpoint runs/student.json --data data/synthtalk --split test \\
      --json out/eval.json --markdown out/eval.md

Lip and upper-face regions default to shared/flame/vocaset_eval_regions.json beside the project
('lve' 428 vertices, 'fdd' 1501) for 5023-vertex data; pass --regions otherwise.
Style accuracy on SynthTalk is judged against what its generator makes each speaker
do with the clip's own audio; on other datasets, against each speaker's recording of
the same sentence (a weaker judge: see research/style_metric_ceiling.py).
"""


def add_cli(sub) -> None:
    p = sub.add_parser("evaluate", help="LVE, FDD, diversity, style accuracy, lip closure, speed",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", action="append", required=True,
                   help="checkpoint to evaluate (repeat to compare several)")
    p.add_argument("--steps", type=positive_int, action="append", default=None,
                   help="sampler steps per checkpoint, in the same order (default: each one's own)")
    p.add_argument("--data", required=True, help="dataset root, as in train")
    add_dataset_flag(p)
    p.add_argument("--split", default="test", help="test, test_unseen, val, ... (default: test)")
    p.add_argument("--regions", default=None, help="JSON with 'lve' and 'fdd' index lists")
    p.add_argument("--masks", default=None, help="JSON with a 'lips' list, for mouth opening (FLAME_masks.json)")
    p.add_argument("--max-clips", type=positive_int, default=None,
                   help="evaluate at most N clips, evenly chosen (default: all)")
    p.add_argument("--seeds", type=positive_int, default=3, help="takes per clip for seed diversity (default: 3)")
    add_variation_flag(p)
    add_guidance_flag(p, "of every take of every checkpoint (default: 1,1, none)")
    p.add_argument("--library", default=None,
                   help="style library (from 'new-style'): clips of its speakers use their personal style")
    p.add_argument("--no-identities", action="store_true",
                   help="skip identity diversity and style accuracy (one take per identity per clip)")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument("--markdown", default=None, help="write a Markdown table here")
    add_device_flag(p)
    p.set_defaults(run=run)


# ---- metrics on (T, V, 3) offset arrays -------------------------------------------------

def lve(pred: np.ndarray, gt: np.ndarray, lip_idx: np.ndarray) -> np.ndarray:
    """Per-frame max squared lip error (m²); average the returned frames yourself."""
    return ((pred[:, lip_idx] - gt[:, lip_idx]) ** 2).sum(-1).max(-1)


def fdd(pred: np.ndarray, gt: np.ndarray, upper_idx: np.ndarray) -> float:
    def dynamics(x):
        return (x[:, upper_idx] ** 2).sum(-1).std(axis=0)

    return float((dynamics(gt) - dynamics(pred)).mean())


def mean_pairwise_l2(takes: list[np.ndarray]) -> float:
    pairs = list(itertools.combinations(takes, 2))
    return float(np.mean([np.linalg.norm(a - b, axis=-1).mean() for a, b in pairs])) if pairs else 0.0


def style_signature(offsets: np.ndarray, idx: np.ndarray) -> np.ndarray:
    region = offsets[:, idx]
    return np.concatenate([region.std(axis=0).reshape(-1), region.mean(axis=0).reshape(-1)])


def mouth_opening(vertices: np.ndarray, template: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Per-frame lip gap change from the neutral (m): > 0 open, ~0 closed like the neutral."""
    return lip_gap(vertices, upper, lower) - lip_gap(template, upper, lower)


def opening_range_mm(opening: np.ndarray) -> float:
    """How far the mouth travels (mm): the 95th minus the 5th percentile of its opening,
    so a frame or two of tracking noise or a yawn does not set it."""
    return float(np.percentile(opening, 95) - np.percentile(opening, 5)) * 1000


def bilabial_closures(opening: np.ndarray, phonemes, fps: float) -> list[bool]:
    out = []
    for start, end, ph in phonemes or []:
        if ph.strip().lower() in BILABIALS:
            a = max(0, int(np.floor(start * fps)) - 1)
            b = min(len(opening), int(np.ceil(end * fps)) + 1)
            if b > a:
                out.append(bool(opening[a:b].min() < CLOSED_MM / 1000.0))
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


# ---- phonetic scores: a take judged by its timed phones alone ---------------------------

# ARPAbet phone -> the steady lip opening (mm, gap change from the neutral) SynthTalk's
# rig gives it held for a second, mean over every SynthTalk speaker: what
# ``articulated_openness`` computes on FLAME_sample.ply. Frozen here so that scoring
# needs no FLAME data; tests/test_phonetic_scores.py checks it still matches the rig.
# Velars and /h/ have little dominance of their own (in speech they take the jaw of
# the vowels around them), so their targets sit in the middle.
OPENNESS_MM = {
    "aa": 8.88, "ah": 8.88, "ae": 8.14, "ao": 7.21, "ay": 5.91, "aw": 5.60, "eh": 4.85, "er": 4.34, "hh": 3.92,
    "ey": 3.50, "oy": 2.99, "g": 2.83, "k": 2.83, "ng": 2.83, "ow": 2.72, "ih": 1.58, "l": 1.52, "dh": 1.45,
    "th": 1.45, "iy": 1.34, "y": 1.12, "d": 1.11, "n": 1.11, "t": 1.11, "uh": 1.04, "ch": 0.84, "jh": 0.84,
    "sh": 0.84, "zh": 0.84, "r": 0.70, "uw": 0.56, "s": 0.33, "z": 0.33, "w": 0.22, "b": 0.21, "m": 0.21,
    "p": 0.21, "f": -0.03, "v": -0.03,
}
PAUSE_MIN_S = 0.3  # a silence this long is a pause, where the mouth should be at rest
PAUSE_EDGE_S = 0.1  # ... except near its edges, where the face is still leaving or reaching speech
MAX_LAG = 10  # frames either way: a third of a second at 30 fps
SILENCE = {"sil", "sp", "spn", "pau", ""}


def phone_key(name: str) -> str:
    """Lower-case ARPAbet without stress digits: the key of ``OPENNESS_MM``."""
    return re.sub(r"[0-2]$", "", name.strip().lower())


def articulated_openness(rig, upper: np.ndarray, lower: np.ndarray, styles=None, fps: float = 30.0) -> dict:
    """Each ARPAbet phone's steady lip opening (mm) on SynthTalk's `rig`, mean over `styles`
    (default: every SynthTalk speaker), each phone held a second and measured over its
    middle 0.7 s, so the pauses around it do not reach in; a diphthong's value mixes its
    nucleus and offglide as they share the second."""
    from .phonetics import PHONES
    from .synthtalk.articulate import articulate
    from .synthtalk.phones import arpabet_class
    from .synthtalk.speakers import STYLES

    only = np.concatenate([upper, lower])
    up, low = np.arange(len(upper)), np.arange(len(upper), len(only))
    rest = lip_gap(rig.template[only][None], up, low)
    middle = slice(int(np.ceil(0.15 * fps)), int(0.85 * fps) + 1)
    table = {}
    for phone in PHONES[1:]:
        values = [(lip_gap(articulate(rig, style, [(0.0, 1.0, arpabet_class(phone))], fps, only=only)
                           + rig.template[only][None], up, low) - rest)[middle].mean()
                  for style in (styles or STYLES)]
        table[phone] = float(np.mean(values) * 1000)
    return table


def _segment_frames(start: float, end: float, fps: float, frames: int) -> np.ndarray:
    """Frames whose time falls in [start, end); a phone shorter than a frame gets the nearest one."""
    idx = np.arange(int(np.ceil(start * fps)), int(np.ceil(end * fps)))
    if not len(idx):
        idx = np.array([int(round(0.5 * (start + end) * fps))])
    return idx[(idx >= 0) & (idx < frames)]


def openness_correlation(opening: np.ndarray, phones, fps: float) -> float | None:
    """Pearson r over the non-silent phones between the mean of `opening` in each and
    ``OPENNESS_MM``; None with under 3 such phones or a flat take."""
    take, expected = [], []
    for start, end, name in phones or []:
        key = phone_key(name)
        idx = _segment_frames(start, end, fps, len(opening))
        if key in SILENCE or key not in OPENNESS_MM or not len(idx):
            continue
        take.append(opening[idx].mean())
        expected.append(OPENNESS_MM[key])
    return pearson(np.asarray(take), np.asarray(expected))


def best_lag(opening: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> int | None:
    """The shift (frames) of `opening` behind `reference` that correlates them best:
    positive when the take is late (its frame t + lag matches the reference's frame t)."""
    n = min(len(opening), len(reference))
    best, best_r = None, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        a, b = (opening[lag:n], reference[:n - lag]) if lag >= 0 else (opening[:n + lag], reference[-lag:n])
        r = pearson(a, b)
        if r is not None and (r > best_r or (r == best_r and abs(lag) < abs(best))):
            best, best_r = lag, r
    return best


def pause_frames(phones, fps: float, frames: int) -> np.ndarray:
    """Frames inside silences of over ``PAUSE_MIN_S``, ``PAUSE_EDGE_S`` from their edges."""
    out = [_segment_frames(start + PAUSE_EDGE_S, end - PAUSE_EDGE_S, fps, frames)
           for start, end, name in phones or []
           if phone_key(name) in SILENCE and end - start > PAUSE_MIN_S]
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def phonetic_scores(offsets: np.ndarray, template: np.ndarray, fps: float, phones, lips,
                    reference: np.ndarray | None = None) -> dict:
    """The five phonetic scores of a take (``offsets`` (T, V, 3) in metres from
    ``template``) of speech whose timed ARPAbet ``phones`` are known; ``lips`` is the
    (upper, lower) landmark pair of ``mouth_landmarks``. ``reference``: a phone-timed
    take of the same phones (``phone_timed_reference``), for the lag; without it the
    lag is None. A score with nothing to judge (no p/b/m, no pause) is None."""
    upper, lower = lips
    opening = mouth_opening(offsets + template[None], template, upper, lower)
    closures = bilabial_closures(opening, phones, fps)
    rest = pause_frames(phones, fps, len(opening))
    lag = None
    if reference is not None:
        lag = best_lag(opening, mouth_opening(reference + template[None], template, upper, lower))
    return {
        "bilabial_closure": float(np.mean(closures)) if closures else None, "bilabials": len(closures),
        "openness_r": openness_correlation(opening, phones, fps),
        "lag_frames": lag,
        "range_mm": opening_range_mm(opening),
        "rest_mm": float(np.abs(opening[rest]).mean() * 1000) if len(rest) else None,
    }


def phone_timed_reference(rig, phones, fps: float, frames: int, style=None) -> np.ndarray:
    """(frames, V, 3) offsets: SynthTalk's `rig` articulating the timed ARPAbet `phones`
    with a neutral speaker (every gain 1, no lead, no smile or pout): the motion the
    phones alone predict, the ceiling of the phonetic scores and the clock of the lag.
    ``style``: a SynthTalk speaker's ``Style`` instead, for that style's own ceiling."""
    from .synthtalk.articulate import articulate
    from .synthtalk.phones import to_classes
    from .synthtalk.speakers import Style

    classes, _ = to_classes([(s, e, p) for s, e, p in phones])
    style = Style("neutral", "en-us", lead_s=0.0) if style is None else style
    return articulate(rig, style, classes, fps, seconds=frames / fps)[:frames]


# ---- the run -----------------------------------------------------------------------------

def pick_evenly(clips, n):
    if n is None or n >= len(clips):
        return clips
    return [clips[i] for i in np.linspace(0, len(clips) - 1, n).round().astype(int)]


def sentence_of(clip) -> str:
    """What was said, from the clip name: 'spk03_sentence12' -> 'sentence12'."""
    return clip.name.removeprefix(clip.speaker + "_")


def nearest_rows(signatures: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(K, S) signatures, (N, S) truths -> for each signature the index of its nearest truth:
    the one rule every style judge here applies."""
    return np.linalg.norm(signatures[:, None] - table[None], axis=-1).argmin(axis=1)


def nearest_speaker(offsets: np.ndarray, references: dict[str, np.ndarray], idx: np.ndarray) -> str:
    names = list(references)
    table = np.stack([references[n] for n in names])
    return names[int(nearest_rows(style_signature(offsets, idx)[None], table)[0])]


def relative_style_hits(takes: list[np.ndarray], names: list[str], references: dict[str, np.ndarray],
                        idx: np.ndarray) -> list[bool]:
    """Per identity: is its take's departure from the identities' mean signature nearest
    its own speaker's departure from those speakers' mean truth? Needs every identity's
    truth."""
    if not all(n in references for n in names) or len(names) < 2:
        return []
    signatures = np.stack([style_signature(t, idx) for t in takes])
    truths = np.stack([references[n] for n in names])
    signatures -= signatures.mean(axis=0)
    truths -= truths.mean(axis=0)
    return list(nearest_rows(signatures, truths) == np.arange(len(names)))


def own_style(gen, clip):
    return clip.speaker if clip.speaker in gen.identity_names else "auto"


def evaluate_checkpoint(gen, clips, regions, lips, steps, seeds: int, identities: bool,
                        references, style_of=own_style, variation: float = DEFAULT_VARIATION,
                        guidance=None) -> dict:
    """Metrics of one model; ``references(clip)`` maps speaker -> true style signature
    for that clip's audio, ``style_of(gen, clip)`` chooses the style of the main take."""
    sampling = {"steps": steps, "variation": variation, "guidance": guidance}
    lve_frames, fdds, seed_div, ident_div, rtfs, walls = [], [], [], [], [], []
    style_hits, relative_hits, own_hits, auto_hits, closures, corrs = [], [], [], [], [], []
    names = gen.identity_names
    for clip in clips:
        gt = clip.vertices - clip.template[None]
        own = style_of(gen, clip)
        refs = references(clip)
        comparable = len(refs) > 1
        began = time.perf_counter()
        take = gen.generate(clip.audio, SAMPLE_RATE, style=own, seed=0, **sampling)
        walls.append(time.perf_counter() - began)
        rtfs.append(take.compute_seconds / take.audio_seconds)
        n = min(len(take.offsets), len(gt))
        pred, gt = take.offsets[:n], gt[:n]
        lve_frames.append(lve(pred, gt, regions["lve"]))
        fdds.append(fdd(pred, gt, regions["fdd"]))
        if comparable and clip.speaker in refs:
            own_hits.append(nearest_speaker(pred, refs, regions["lve"]) == clip.speaker)
        takes = [pred] + [gen.generate(clip.audio, SAMPLE_RATE, style=own, seed=s, **sampling).offsets[:n]
                          for s in range(1, seeds)]
        seed_div.append(mean_pairwise_l2(takes))
        if clip.speaker in names:
            auto_hits.append(gen.find_style(clip.audio, SAMPLE_RATE) == names.index(clip.speaker))
        if identities:
            per_id = [gen.generate(clip.audio, SAMPLE_RATE, style=k, seed=0, **sampling).offsets[:n]
                      for k in range(len(names))]
            ident_div.append(mean_pairwise_l2(per_id))
            style_hits += [(name, nearest_speaker(per_id[k], refs, regions["lve"]) == name)
                           for k, name in enumerate(names) if comparable and name in refs]
            relative_hits += relative_style_hits(per_id, names, refs, regions["lve"])
        if lips is not None and clip.phonemes:
            upper, lower = lips
            open_pred = mouth_opening(pred + clip.template[None], clip.template, upper, lower)
            open_gt = mouth_opening(gt + clip.template[None], clip.template, upper, lower)
            closures += bilabial_closures(open_pred, clip.phonemes, clip.fps)
            r = pearson(open_pred, open_gt)
            if r is not None:
                corrs.append(r)
    frames = np.concatenate(lve_frames)

    def mean(xs):
        return float(np.mean(xs)) if len(xs) else None

    return {
        "clips": len(clips), "steps": take.steps,
        "lve": float(frames.mean()), "lve_x1e5": float(frames.mean() * 1e5),
        "lve_rms_mm": float(np.sqrt(frames.mean()) * 1000),
        "fdd": mean(fdds), "fdd_abs": mean(np.abs(fdds)),
        "diversity_seeds_mm": None if seeds < 2 else mean(seed_div) * 1000,
        "diversity_identities_mm": None if not ident_div else mean(ident_div) * 1000,
        "style_accuracy": mean([hit for _, hit in style_hits]), "style_pairs": len(style_hits),
        "style_accuracy_by_identity": by_identity(style_hits),
        "relative_style_accuracy": mean(relative_hits),
        "own_style_accuracy": mean(own_hits), "auto_style_accuracy": mean(auto_hits),
        "bilabial_closure": mean(closures), "bilabial_segments": len(closures),
        "openness_correlation": mean(corrs),
        "rtf": mean(rtfs), "wall_seconds_per_clip": mean(walls),
    }


def by_identity(hits: list[tuple[str, bool]]) -> dict[str, float]:
    """(identity, hit) pairs -> each identity's share of hits: the absolute judge's misses
    gather on identities whose speaker has a close neighbour (docs/results.md)."""
    grouped: dict[str, list[bool]] = {}
    for name, hit in hits:
        grouped.setdefault(name, []).append(hit)
    return {name: float(np.mean(h)) for name, h in grouped.items()}


def same_sentence_references(dataset: str, root, idx, loaded: dict | None = None):
    """clip -> speaker -> signature of that speaker's recording of the clip's sentence,
    over every split (a held-out speaker's sentence is compared with the training
    speakers' recordings of it). Read split by split, so only one split's vertices are in
    memory at a time; ``loaded`` maps split names to clips the caller already holds."""
    from .batches import load_split
    from .data import splits_of
    from .errors import DiffusionTalkerError

    table: dict[str, dict[str, np.ndarray]] = {}
    for split in splits_of(dataset, root):
        try:
            clips = (loaded or {}).get(split) or load_split(dataset, root, split)
        except DiffusionTalkerError as exc:
            print(f"warning: style references without split '{split}': {exc}", file=sys.stderr)
            continue
        for c in clips:
            table.setdefault(sentence_of(c), {})[c.speaker] = style_signature(c.vertices - c.template[None], idx)
        del clips
    return lambda clip: table.get(sentence_of(clip), {})


def counterfactual_references(truth, idx):
    """clip -> speaker -> signature of what SynthTalk's generator (``truth``, a
    ``Counterfactuals``) makes every one of its speakers do with this clip's phonemes.
    Kept per clip: every checkpoint evaluated asks for the same ones."""
    made: dict[str, dict[str, np.ndarray]] = {}

    def references(clip):
        if clip.name not in made:
            made[clip.name] = ({s: style_signature(truth.offsets(clip, s), idx) for s in truth.speakers}
                               if clip.phonemes else {})
        return made[clip.name]

    return references


def style_references(dataset: str, root, idx, loaded: dict | None = None):
    """(kind, references): the exact counterfactual truth where the data's generator is
    known, else other speakers' recordings of the same sentence."""
    from .errors import DiffusionTalkerError
    from .synthtalk.counterfactual import Counterfactuals

    if dataset == "synthtalk":
        try:
            return "counterfactual", counterfactual_references(Counterfactuals(root), idx)
        except DiffusionTalkerError as exc:
            print(f"warning: style judged against recordings of the same sentence ({exc})", file=sys.stderr)
    return "same sentence", same_sentence_references(dataset, root, idx, loaded)


def markdown_table(results: dict[str, dict]) -> str:
    cols = [("steps", "steps", "{:d}"), ("lve_x1e5", "LVE ×1e-5 m²", "{:.3f}"), ("lve_rms_mm", "√LVE mm", "{:.2f}"),
            ("fdd_abs", r"\|FDD\| ×1e-7", None), ("diversity_seeds_mm", "div. seeds mm", "{:.3f}"),
            ("diversity_identities_mm", "div. identities mm", "{:.3f}"), ("style_accuracy", "style acc.", "{:.1%}"),
            ("relative_style_accuracy", "relative style", "{:.1%}"), ("own_style_accuracy", "own style", "{:.1%}"),
            ("auto_style_accuracy", "auto style", "{:.1%}"), ("bilabial_closure", "p/b/m closed", "{:.1%}"),
            ("openness_correlation", "openness r", "{:.3f}"), ("rtf", "RTF", "{:.3f}"),
            ("wall_seconds_per_clip", "s / clip", "{:.2f}")]
    lines = ["| model | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        cells = []
        for key, _, fmt in cols:
            v = r.get(key)
            if v is None:
                cells.append("–")
            elif fmt is None:
                cells.append(f"{v * 1e7:.3f}")
            else:
                cells.append(fmt.format(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def identity_table(results: dict[str, dict]) -> str:
    """Style accuracy per identity, one row per model; empty when no model was judged on style."""
    judged = {label: r["style_accuracy_by_identity"] for label, r in results.items() if r["style_accuracy_by_identity"]}
    if not judged:
        return ""
    names = list(dict.fromkeys(n for by in judged.values() for n in by))
    lines = ["| style acc. by identity | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, by in judged.items():
        lines.append(f"| {label} | " + " | ".join("–" if n not in by else f"{by[n]:.0%}" for n in names) + " |")
    return "\n" + "\n".join(lines) + "\n"


def run(args) -> int:
    from .batches import load_split
    from .checkpoint import paths_of, read_card
    from .errors import DiffusionTalkerError
    from .outputs import replacing, writable_file
    from .library import check_library_fits, load_library
    from .pipeline import Generator
    from .regions import default_region_file, load_regions

    for path, what in ((args.json, "--json"), (args.markdown, "--markdown")):
        if path:
            writable_file(path, what)
    split_clips = load_split(args.dataset, args.data, args.split)
    clips = pick_evenly(split_clips, args.max_clips)
    num_vertices = clips[0].vertices.shape[1]
    region_file = args.regions or (default_region_file("vocaset_eval_regions.json") if num_vertices == 5023 else None)
    if region_file is None:
        raise DiffusionTalkerError("no evaluation regions: pass --regions with 'lve' and 'fdd' index lists")
    regions = load_regions(region_file, num_vertices, required=("lve", "fdd"))
    mask_file = args.masks or (default_region_file("FLAME_masks.json") if num_vertices == 5023 else None)
    lips = None
    if mask_file:
        lips = mouth_landmarks(clips[0].template, load_regions(mask_file, num_vertices, ("lips",))["lips"])
    reference_kind, references = style_references(args.dataset, args.data, regions["lve"], {args.split: split_clips})
    del split_clips  # only the chosen clips are needed from here on
    steps = args.steps or [None] * len(args.checkpoint)
    if len(steps) != len(args.checkpoint):
        raise DiffusionTalkerError("give --steps once per --checkpoint, or not at all")
    cards = [paths_of(p)[1].resolve() for p in args.checkpoint]
    if len(set(zip(cards, steps))) < len(steps):
        raise DiffusionTalkerError("a checkpoint is given twice with the same --steps")
    names = [card.name for card in cards]
    if args.library:  # every checkpoint, before the first one's evaluation is spent
        library = load_library(args.library)[2]  # read whole: a broken library is told before the work
        for card in cards:
            check_library_fits(args.library, library, read_card(card)["sha256"])
    results = {}
    for path, card, n in zip(args.checkpoint, cards, steps):
        gen = Generator.load(path, args.device)
        gen.guidance(args.guidance)  # refused before the clips are heard
        for note in gen.warnings:
            print(f"warning: {note}", file=sys.stderr)
        if args.library:
            gen.add_library(args.library)
        # checkpoints of the same file name (runs/a/demo.json, runs/b/demo.json) keep their folders
        shown = str(card) if names.count(card.name) > 1 else card.name
        label = f"{shown.removesuffix('.json')} ({n or gen.default_steps} steps)"
        if label in results:  # e.g. --steps 8 next to no --steps on an 8-step student
            raise DiffusionTalkerError(f"{label} would be evaluated twice")
        print(f"evaluating {label} on {len(clips)} clips ...", file=sys.stderr)
        results[label] = evaluate_checkpoint(gen, clips, regions, lips, n, args.seeds, not args.no_identities,
                                             references, variation=args.variation, guidance=args.guidance)
    report = {"dataset": args.dataset, "data": args.data, "split": args.split, "regions": str(region_file),
              "style_reference": reference_kind, "results": results}
    if args.json:  # checked before the work; its folder is made now that there is something to put in it
        with replacing(args.json, "--json") as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    table = markdown_table(results) + identity_table(results)
    if args.markdown:
        with replacing(args.markdown, "--markdown") as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"Split `{args.split}` of `{args.data}` ({len(clips)} clips); regions `{region_file}`; "
                     f"style judged against the {reference_kind} truth.\n\n")
            fh.write(table)
    print(table)
    return 0
