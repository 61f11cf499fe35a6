"""What the phonetic front-end hears in each training clip, worked out once and kept beside the data.

A model that reads the front-end's phones must train on what the front-end makes of
the training audio, errors included, not on the dataset's true phonemes: at
generation it only ever gets the phones of the words it recognises (Whisper's where it
is installed, else PocketSphinx's) or of a transcript. The guesses kept are what generation without a transcript gets
(``phonetics.recognise``: the recognised words, aligned), errors and all; version 2
kept allphone search's, which generation no longer uses. Recognising and aligning an
hour of speech takes minutes, so the rows
are cached in ``frontend.json`` in the dataset folder, keyed by clip name, by the
front-end's version and by who recognised the words; a changed front-end or new clips
are worked out again.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

CACHE = "frontend.json"
# bump when recognise/align change what they return, so stale caches are not reused
VERSION = 7  # 2: align retries without fillers when they swallow a word; 3: words recognised, not allphones;
# 4: Whisper's timed phrases, long clips aligned in spans; 5: where alignment fails, windows placed by a word search;
# 6: Whisper decodes on float16 weights, and a span keeps the words placed before its alignment was lost;
# 7: rows never overlap (evenly shared phones began a frame early)


def transcripts_of(dataset: str, root) -> dict[str, str]:
    """Clip name -> what is said, for the clips whose text is known and English (the
    front-end's dictionary and acoustic model are US-English; other languages are only
    recognised)."""
    if dataset != "synthtalk":
        return {}
    from .data import synthtalk_manifest, synthtalk_speaker

    manifest = synthtalk_manifest(root)  # generator 1 folders have no texts: recognition alone
    english = {name for name, s in manifest.get("speakers", {}).items() if s["voice"].startswith("en")}
    return {name: clip["text"] for name, clip in manifest.get("clips", {}).items()
            if synthtalk_speaker(name) in english and clip.get("text")}


def _hear(job):
    from .errors import DiffusionTalkerError
    from .phonetics import align, recognise

    name, wave, text = job
    aligned = None
    if text:
        try:
            aligned = align(wave, text)
        except DiffusionTalkerError:  # the aligner could not fit the text: recognition alone, as without one
            pass
    return name, {"recognised": recognise(wave), "aligned": aligned}


def heard_in(dataset: str, root, clips, workers: int = 2) -> dict[str, dict]:
    """Clip name -> {"recognised": rows, "aligned": rows or None} for every clip of ``clips``."""
    from importlib.metadata import version

    from tqdm import tqdm

    from .transcribe import recogniser

    path = Path(root) / CACHE
    stamp = {"version": VERSION, "pocketsphinx": version("pocketsphinx"), "words": recogniser()}
    cached = {}
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("stamp") == stamp:
            cached = doc["clips"]
    texts = transcripts_of(dataset, root)
    todo = [(c.name, c.audio, texts.get(c.name)) for c in clips if c.name not in cached]
    if todo:
        # not forked from this process: torch's thread pool, once started here, hangs in a
        # forked child, and Whisper runs torch in the workers (Windows has only spawn)
        start = "forkserver" if "forkserver" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max(1, min(workers, len(todo))), mp_context=get_context(start)) as pool:
            for name, rows in tqdm(pool.map(_hear, todo, chunksize=4), total=len(todo), file=sys.stderr,
                                   desc="phonetic front-end on the training clips"):
                cached[name] = rows
        tmp = path.with_suffix(".json.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"stamp": stamp, "clips": cached}, fh)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only dataset: the work is redone next time, nothing else lost
            print(f"warning: could not keep the front-end's phones in {path} ({exc.strerror})", file=sys.stderr)
    return {c.name: cached[c.name] for c in clips}
