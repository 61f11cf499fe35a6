"""SynthTalk's espeak clips re-articulated on the phones PocketSphinx aligns in their
audio, so that a model reading those phones learns targets that follow them.

    .venv/bin/python bench/retime_synthtalk.py --base data/synthtalk2_real --out data/synthtalk2_retimed

Why: a ``--phonetic`` model reads PocketSphinx's phones, but an espeak clip's motion is
the articulation of espeak's own phoneme events, timed and pronounced its way. Scored
against the aligned phones of their own audio, the training clips' true motion
follows them at openness r 0.56 (the real voice lines, articulated on those phones, at
0.82; docs/results.md), and a model learns to hedge between the two: on real voices
its r sat near 0.6 whatever style it was given, while the styles' own articulation of
the same phones reaches 0.58-0.89. Here every train clip whose text the front-end
aligned (``clip_phones``'s "aligned" row) gets the motion of its speaker articulating
those phones (mapped to espeak's mnemonics as the real lines are); the audio, the
clips that could not be aligned, and the val/test splits are left as they were, so
the SynthTalk evaluation still scores against espeak's own timings. The front-end's
cache is copied along (same clip names, same audio).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    import real_training
    import soundfile as sf

    from diffusiontalker.clip_phones import CACHE, VERSION
    from diffusiontalker.data import synthtalk_manifest, synthtalk_speaker
    from diffusiontalker.synthtalk.build import SAMPLE_RATE, default_template, load_rig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True,
                   help="SynthTalk generator-2 folder whose front-end cache (frontend.json) is computed: "
                        "run 'diffusiontalker train' on it once, or clip_phones.heard_in")
    p.add_argument("--out", type=Path, required=True, help="where the re-articulated copy goes (must not exist)")
    args = p.parse_args(argv)

    began = time.perf_counter()
    cache_path = args.base / CACHE
    if not cache_path.is_file():
        raise SystemExit(f"{cache_path}: no front-end cache; train on {args.base} once first")
    cache = json.loads(cache_path.read_text(encoding="utf-8"))
    if cache["stamp"]["version"] != VERSION:
        raise SystemExit(f"{cache_path} is version {cache['stamp']['version']}, the front-end is {VERSION}")
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; remove it first")
    manifest = synthtalk_manifest(args.base)
    styles = real_training.styles_of(manifest)
    rig = load_rig(default_template())
    shutil.copytree(args.base, args.out)
    try:
        retimed = unaligned = 0
        for number, name in enumerate(manifest["splits"]["train"]):
            clip = manifest["clips"][name]
            if "source" in clip:  # a real voice line: already articulated on its aligned phones
                continue
            heard = cache["clips"].get(name)
            if not heard or not heard["aligned"]:
                unaligned += 1
                continue
            wave, rate = sf.read(args.base / "wav" / f"{name}.wav", dtype="float32")
            if rate != SAMPLE_RATE:
                raise SystemExit(f"{name}.wav is {rate} Hz; SynthTalk writes {SAMPLE_RATE}")
            phones = real_training.to_espeak(heard["aligned"])
            _, frames = real_training.write_motion(args.out, rig, styles[synthtalk_speaker(name)], name,
                                                   wave, phones, seed=number)
            if frames != clip["frames"]:
                raise SystemExit(f"{name}: {frames} frames re-articulated, {clip['frames']} stored")
            retimed += 1
        manifest["retimed"] = {"clips": retimed, "left_as_espeak_timed": unaligned,
                               "made_by": "bench/retime_synthtalk.py"}
        (args.out / "synthtalk.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(args.out, ignore_errors=True)
        raise
    print(f"re-articulated {retimed} train clips on their aligned phones; {unaligned} had no alignment and "
          f"keep espeak's timing; {time.perf_counter() - began:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
