"""How well does the phonetic front-end time phones? Forced alignment and allphone
recognition of espeak-ng speech, scored against espeak's own phone timings.

    .venv/bin/python bench/bench_phonetics.py

Phones are compared through SynthTalk's articulation classes (espeak's mnemonics and
ARPAbet meet there). Boundary error: |start difference| of the phones the two class
sequences share, matched in order. Class error rate: edit distance of the recognised
class sequence from espeak's, over espeak's length. Bilabials: share of espeak's
p/b/m that a recognised one overlaps within 50 ms. The results go to docs/benchmarks.md.
"""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from phone_timing import bilabials_found, boundary_errors, class_error_rate  # noqa: E402

from diffusiontalker import phonetics  # noqa: E402
from diffusiontalker.audio import load_audio  # noqa: E402
from diffusiontalker.synthtalk.espeak import speak  # noqa: E402

SENTENCES = ("Put the big map back by the pump, Bob.", "The quick brown fox jumps over the lazy dog.",
             "She sells sea shells by the sea shore.", "Maybe my mother will bake apple pie tomorrow.",
             "We were away a year ago, when the weather was warm.")
VOICES = ("en-us", "en-us+f3", "en-gb-x-rp")


def main() -> None:
    print(f"{'voice':12} {'align median ms':>16} {'align p90 ms':>13} {'phones':>7} "
          f"{'allphone CER':>13} {'bilabials':>10} {'align s/s':>10} {'recognise s/s':>14}")
    for voice in VOICES:
        errors, cer, bilabial, seconds, aligning, recognising = [], [], [], 0.0, 0.0, 0.0
        for text in SENTENCES:
            utterance = speak(text, voice)
            wave = load_audio(utterance.audio, utterance.sample_rate)
            start = time.perf_counter()
            aligned = phonetics.align(wave, text)
            middle = time.perf_counter()
            recognised = phonetics.allphones(wave)
            aligning, recognising = aligning + middle - start, recognising + time.perf_counter() - middle
            seconds += len(wave) / 16000
            errors += boundary_errors(utterance.phonemes, aligned)
            cer.append(class_error_rate(utterance.phonemes, recognised))
            bilabial.append(bilabials_found(utterance.phonemes, recognised, 0.05))
        p90 = statistics.quantiles(errors, n=10)[-1]
        print(f"{voice:12} {statistics.median(errors) * 1000:16.0f} {p90 * 1000:13.0f} {len(errors):7d} "
              f"{statistics.mean(cer):13.2f} {statistics.mean(bilabial):10.2f} {aligning / seconds:10.2f} "
              f"{recognising / seconds:14.2f}")


if __name__ == "__main__":
    main()
