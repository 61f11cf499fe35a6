"""How narrow PocketSphinx's word search can be: word error and time per audio second
of ``phonetics.recognise_words`` under several decoder settings.

    .venv/bin/python bench/word_search.py [--lines 30] [--seed 0]

Tuned on the voices we train on (bench/real_training.py's real lines: Asterisk's
prompts and Hedgewars' voice packs), never on the ones bench/real_voices.py scores,
so the front-end's setting is not fitted to its own test. Each row times the same
random lines; word error is edit distance over the transcript's words.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SETTINGS = {
    "PocketSphinx's defaults": {},
    "no fwdflat/bestpath passes": {"fwdflat": False, "bestpath": False},
    "the front-end's (narrow beams)": None,  # phonetics._WORD_SEARCH as shipped
    "wider beams, fwdflat on": {"fwdflat": False, "beam": 1e-48, "wbeam": 7e-29, "pbeam": 1e-48},
}


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        previous, row = row, [i] + [0] * len(hypothesis)
        for j, heard in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != heard))
    return row[-1]


def main(argv=None) -> int:
    import real_training

    from diffusiontalker import phonetics

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=30, help="lines drawn at random (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="which lines (default: 0)")
    p.add_argument("--cache", type=Path, default=real_training.DEFAULT_CACHE, help="where the packages go")
    args = p.parse_args(argv)
    lines = list(real_training.gather(args.cache))
    chosen = [lines[i] for i in sorted(np.random.default_rng(args.seed).choice(len(lines), args.lines,
                                                                                replace=False))]
    shipped = dict(phonetics._WORD_SEARCH)
    print("| word search | word error | s per audio s |\n|---|---|---|")
    for name, setting in SETTINGS.items():
        phonetics._WORD_SEARCH = shipped if setting is None else setting
        errors = words = 0
        seconds = spent = 0.0
        for line in chosen:
            reference = phonetics.transcript_words(re.sub(r"\d", "", line.text) or "a")
            began = time.perf_counter()
            heard = phonetics.recognise_words(line.wave).split()
            spent += time.perf_counter() - began
            errors += word_errors(reference, heard)
            words += len(reference)
            seconds += len(line.wave) / 16000
        print(f"| {name} | {errors / words:.2f} | {spent / seconds:.2f} |", flush=True)
    phonetics._WORD_SEARCH = shipped
    print(f"\n{len(chosen)} lines, {seconds:.0f} s of speech, {words} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
