"""The whole ``diffusiontalker generate`` process on 30 s of speech, start to exit: what a
pipeline pays per file (Python and torch start-up, checkpoint load, the phonetic
front-end, denoising, writing), against issue 28's target of 0.1 s per audio second.

    .venv/bin/python bench/bench_generate_process.py [--checkpoint CK] [--seconds 30] [--repeats 3] [--transcript]

Audio is espeak-ng reading different SynthTalk sentences, 0.25 s apart, cut to length:
continuous speech whose words the front-end can hear (the bundled example repeated
was heard as one sentence, or none, and timed the fallback instead). The front-end
(the words recognised, Whisper's where it is installed, and their alignment by
PocketSphinx, in pieces of at most 15 s) is also timed alone in this process, loading
the recogniser apart from using it, since only checkpoints that read phones pay for it;
then takes with the model kept loaded, as Blender keeps it.
``--transcript``: the sentences said are given (``--transcript-file``), so nothing is
recognised and they are only aligned; the audio then holds whole sentences only, the
rest of the seconds silent. The results go to docs/benchmarks.md with the machine they came from.
"""

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled demo")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--transcript", action="store_true", help="give generate what is said (no recognition)")
    args = parser.parse_args()

    from diffusiontalker import phonetics, transcribe
    from diffusiontalker.card import read_card
    from diffusiontalker.checkpoint import BUNDLED

    card = read_card(args.checkpoint or BUNDLED)
    wave, said = speech(args.seconds, whole=args.transcript)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, wave, 16000)
        command = [str(ROOT / ".venv" / "bin" / "diffusiontalker"), "generate", str(wav), "-o",
                   str(Path(tmp) / "take.npz"), "--quiet"]
        if args.transcript:
            (Path(tmp) / "said.txt").write_text(said, encoding="utf-8")
            command += ["--transcript-file", str(Path(tmp) / "said.txt")]
        if args.checkpoint:
            command += ["--checkpoint", args.checkpoint]
        walls = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            subprocess.run(command, check=True)
            walls.append(time.perf_counter() - began)
    began = time.perf_counter()
    if not args.transcript:
        transcribe.transcriber()  # None without Whisper
    load = time.perf_counter() - began
    began = time.perf_counter()
    phonetics.timed(wave, said if args.transcript else None)
    front_end = time.perf_counter() - began + load
    takes = kept_model_takes(args.checkpoint, wave, said if args.transcript else None)
    wall = statistics.median(walls)
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "checkpoint": card.get("tensors"), "reads_phones": bool(card["config"].get("phonetic")),
        "audio_s": args.seconds, "process_wall_s": [round(w, 2) for w in walls],
        "process_s_per_audio_s": round(wall / args.seconds, 3),
        "recogniser": "the transcript, aligned" if args.transcript else transcribe.recogniser(),
        "front_end_s": round(front_end, 2),
        "of_which_loading_s": round(load, 2), "front_end_s_per_audio_s": round(front_end / args.seconds, 3),
        "model_kept": takes,
    }, indent=1))


def kept_model_takes(checkpoint: str | None, wave: np.ndarray, said: str | None) -> dict:
    """Seconds of ``Generator.generate`` where the model (and Whisper) stay loaded, as in
    Blender: the recording's first take, then another seed and another style of it, which
    reuse its phones."""
    from diffusiontalker.pipeline import Generator

    gen = Generator.load(checkpoint)
    gen.generate(wave[:16000], 16000)  # loads what the first take would otherwise pay for
    seconds = {}
    for name, take in (("first_take_s", {}), ("another_seed_s", {"seed": 1}), ("another_style_s", {"style": 1})):
        began = time.perf_counter()
        gen.generate(wave, 16000, transcript=said, **take)
        seconds[name] = round(time.perf_counter() - began, 2)
    return seconds


def speech(seconds: float, whole: bool = False) -> tuple[np.ndarray, str]:
    """(``seconds`` of espeak sentences, what they say); ``whole``: only sentences that fit
    whole, then silence (else the last is cut where the seconds end)."""
    from diffusiontalker.audio import load_audio
    from diffusiontalker.synthtalk.espeak import speak
    from diffusiontalker.synthtalk.text import sentence

    waves, texts = [], []
    while sum(map(len, waves)) < seconds * 16000:
        texts.append(sentence(0, f"bench{len(texts)}"))
        utterance = speak(texts[-1], "en-us")
        waves += [load_audio(utterance.audio, utterance.sample_rate), np.zeros(4000, np.float32)]
    if whole:
        while sum(map(len, waves)) > seconds * 16000:
            del waves[-2:], texts[-1]
        waves.append(np.zeros(int(seconds * 16000) - sum(map(len, waves)), np.float32))
    return np.concatenate(waves)[:int(seconds * 16000)], " ".join(texts)


if __name__ == "__main__":
    main()
