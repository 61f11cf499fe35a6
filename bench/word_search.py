"""How narrow PocketSphinx's word search can be, and what Whisper's words give instead:
word error, time per audio second and the openness r of the recognised phones, for
``phonetics.recognise`` under several decoder settings and with Whisper base.

    .venv/bin/python bench/word_search.py [--lines 30] [--seed 0]

Tuned on the voices we train on (bench/real_training.py's real lines: Asterisk's
prompts and Hedgewars' voice packs), never on the ones bench/real_voices.py scores,
so the front-end's setting is not fitted to its own test. Each row times the same
random lines; word error is edit distance over the transcript's words; openness r is
bench/real_voices.py's recognition reference (SynthTalk articulating the recognised
phones, scored by ``evaluate.phonetic_scores`` against the transcript's aligned phones).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
MIN_SECONDS = 0.8  # as bench/real_voices.py: shorter lines have too few phones to correlate

SETTINGS = {
    "PocketSphinx's defaults": {},
    "no fwdflat/bestpath passes": {"fwdflat": False, "bestpath": False},
    "no bestpath pass": {"bestpath": False},
    "the front-end's (narrow beams)": None,  # phonetics._WORD_SEARCH as shipped
    "Whisper base (core/transcribe.py), aligned by PocketSphinx": "whisper",
}


def main(argv=None) -> int:
    import real_training
    import real_voices

    from diffusiontalker import phonetics, transcribe
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.evaluate import phone_timed_reference, phonetic_scores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=30, help="lines drawn at random (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="which lines (default: 0)")
    p.add_argument("--cache", type=Path, default=real_training.DEFAULT_CACHE, help="where the packages go")
    args = p.parse_args(argv)
    lines = list(real_training.gather(args.cache))
    chosen = [lines[i] for i in sorted(np.random.default_rng(args.seed).choice(len(lines), args.lines,
                                                                                replace=False))]
    rig, template, lips = real_voices.scoring_rig()
    rig_fps = 30.0
    truths = []
    for line in chosen:
        try:
            truths.append(phonetics.align(line.wave, re.sub(r"\d", "", line.text)))
        except DiffusionTalkerError:
            truths.append(None)
    shipped, chosen_whisper = dict(phonetics._WORD_SEARCH), os.environ.get(transcribe.ENV)
    print("| word search | word error | s per audio s | openness r |\n|---|---|---|---|")
    for name, setting in SETTINGS.items():
        whisper = setting == "whisper"  # the other rows are PocketSphinx's words, Whisper turned off
        os.environ[transcribe.ENV] = "" if whisper else "off"
        transcribe.transcriber.cache_clear()
        if whisper and transcribe.transcriber() is None:
            print(f"| {name} | not installed | | |")
            continue
        phonetics._WORD_SEARCH = shipped if setting in (None, "whisper") else setting
        errors = words = 0
        seconds = spent = 0.0
        rs = []
        for line, truth in zip(chosen, truths):
            reference = phonetics.transcript_words(re.sub(r"\d", "", line.text) or "a")
            errors += real_training.word_errors(reference, phonetics.recognise_words(line.wave).split())
            words += len(reference)
            began = time.perf_counter()
            phones = phonetics.recognise(line.wave)  # words, then their alignment
            spent += time.perf_counter() - began
            seconds += len(line.wave) / 16000
            if truth is not None and len(line.wave) / 16000 >= MIN_SECONDS:
                frames = int(len(line.wave) / 16000 * rig_fps)
                take = phone_timed_reference(rig, phones, rig_fps, frames)
                r = phonetic_scores(take, template, rig_fps, truth, lips,
                                    phone_timed_reference(rig, truth, rig_fps, frames))["openness_r"]
                if r is not None:
                    rs.append(r)
        print(f"| {name} | {errors / words:.2f} | {spent / seconds:.2f} | {np.mean(rs):.3f} |", flush=True)
    phonetics._WORD_SEARCH = shipped
    os.environ.pop(transcribe.ENV)
    if chosen_whisper is not None:  # the caller's own setting, back
        os.environ[transcribe.ENV] = chosen_whisper
    print(f"\n{len(chosen)} lines, {seconds:.0f} s of speech, {words} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
