"""Does a long transcript get placed? Forced alignment of 26-42 s readings, scored
against espeak's own phone timings.

    .venv/bin/python bench/long_alignment.py [--readings 24]

Each reading is SynthTalk sentences (seed k + 1) in one of four espeak-ng voices,
0.25 s apart, past the 15 s that ``phonetics.align`` takes at once. Reported per
reading and in all: whether the transcript was placed at all (``align`` raising is a
take the user does not get), the boundary error of the phones matched in order
(``tests/phone_timing.py``), how many of the pauses between sentences the phones
show (a ``sil`` of at least 0.1 s; commas may add more), and the time aligning took.
espeak-ng's output differs slightly from one synthesis to the next (a few hundred
samples in 40 s), so a reading near the edge may come out either way on another run.
The results go to docs/benchmarks.md.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from phone_timing import boundary_errors  # noqa: E402

from diffusiontalker import phonetics  # noqa: E402
from diffusiontalker.audio import load_audio  # noqa: E402
from diffusiontalker.errors import DiffusionTalkerError  # noqa: E402
from diffusiontalker.synthtalk.espeak import speak  # noqa: E402
from diffusiontalker.synthtalk.text import sentence  # noqa: E402

VOICES = ("en-us", "en-us+f3", "en-gb-x-rp", "en-us+m3")


def reading(k: int):
    """(audio, text, espeak's phone rows, sentences) of reading ``k``."""
    voice, seconds = VOICES[k % 4], 25 + 5 * (k % 4)
    waves, texts, truth, at = [], [], [], 0.0
    while at < seconds:
        texts.append(sentence(k + 1, f"long{len(texts)}"))
        utterance = speak(texts[-1], voice)
        waves.append(np.concatenate([load_audio(utterance.audio, utterance.sample_rate), np.zeros(4000, np.float32)]))
        truth += [(start + at, end + at, name) for start, end, name in utterance.phonemes]
        at += len(waves[-1]) / 16000
    return np.concatenate(waves), " ".join(texts), truth, len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=24)
    args = parser.parse_args()
    errors, unplaced, pauses, gaps, seconds = [], 0, 0, 0, 0.0
    for k in range(args.readings):
        wave, text, truth, sentences = reading(k)
        began = time.perf_counter()
        try:
            rows = phonetics.align(wave, text)
        except DiffusionTalkerError as exc:
            unplaced += 1
            print(f"{k:2d} {VOICES[k % 4]:11} {len(wave) / 16000:5.1f} s  not placed: {exc}")
            continue
        took = time.perf_counter() - began
        found = boundary_errors(truth, rows)
        errors += found
        pauses += sum(name == "sil" and end - start >= 0.1 for start, end, name in rows[1:-1])
        gaps, seconds = gaps + sentences - 1, seconds + took
        print(f"{k:2d} {VOICES[k % 4]:11} {len(wave) / 16000:5.1f} s  {len(found)}/{len(truth)} phones matched, "
              f"median {1000 * statistics.median(found):.0f} ms, {took:.2f} s")
    print(f"\nnot placed: {unplaced} of {args.readings}; boundary error median "
          f"{1000 * statistics.median(errors):.0f} ms, 90th percentile {1000 * statistics.quantiles(errors, n=10)[-1]:.0f}"
          f" ms; pauses shown {pauses} for {gaps} gaps between sentences; aligning the placed ones took {seconds:.1f} s")


if __name__ == "__main__":
    main()
