"""Inference off Blender's main thread.

Blender's Python API is not thread-safe, so everything here is torch and numpy
only: the job takes plain values in, and hands progress and the finished take
back through a queue that the operator drains on the main thread (a modal timer
interactively, a plain call in background mode, where timers never fire).
"""

from __future__ import annotations

import os
import queue
import threading
import traceback
from dataclasses import dataclass, field
from typing import Callable

from ..core.card import BUNDLED, paths_of
from ..core.errors import Cancelled, DiffusionTalkerError, restated
from ..core.mesh import check_vertex_count

_generators: dict[tuple[str, str], object] = {}
_checkpoints: dict[tuple[str, str], tuple] = {}  # the checkpoint files' version each model was loaded from
_libraries: dict[tuple[str, str], tuple] = {}  # which library file (and version) each model holds
_library_notes: dict[tuple[str, str], str] = {}  # why a model holds none of its library's styles
_generators_lock = threading.Lock()


def _files_version(path) -> tuple:
    """Path, size and modification time of a checkpoint's or library's two files: a file
    rewritten (a New Style, a retrained checkpoint) or removed is noticed at the next use."""
    stats = [os.stat(p) if p.is_file() else None for p in paths_of(path)]
    return (str(path), *((s.st_size, s.st_mtime_ns) if s else None for s in stats))


def load_generator(checkpoint: str, device: str, identity_library: str = ""):
    """One loaded model per (checkpoint, device), re-loaded when the checkpoint's files
    change, holding the styles of ``identity_library`` (re-read whenever that file changes).

    Loading takes seconds for a real checkpoint while a take of speech takes a few
    more, so re-loading on every click would double the wait; a library is small and
    re-reading it is cheap.
    """
    from ..core.pipeline import Generator  # torch: imported on first use, not at add-on enable

    key = (checkpoint, device)
    with _generators_lock:
        checkpoint_version = _files_version(checkpoint or BUNDLED)
        if _checkpoints.get(key) != checkpoint_version:  # loading verifies the files again
            _generators.pop(key, None)
            _libraries.pop(key, None)
            _library_notes.pop(key, None)
            _generators[key] = Generator.load(checkpoint=checkpoint or None, device=device)
            _checkpoints[key] = checkpoint_version
        generator = _generators[key]
        version = _files_version(identity_library) if identity_library else None
        if _libraries.get(key) != version:
            generator.library.clear()
            _library_notes.pop(key, None)
            if identity_library:
                try:
                    generator.add_library(identity_library)
                except DiffusionTalkerError as exc:  # e.g. made for another checkpoint: the trained styles still work
                    _library_notes[key] = f"personal styles unavailable: {exc}"
            _libraries[key] = version
        return generator


def library_note(checkpoint: str, device: str) -> str | None:
    """Why the model of (checkpoint, device) holds none of the preferences' library styles."""
    with _generators_lock:
        return _library_notes.get((checkpoint, device))


_active_job = None  # at most one job at a time: it holds the cached model; Cancel and the buttons reach it here


def active_job() -> "Job | None":
    """The job running now, if any; while it runs the cached model is in use."""
    return _active_job


def set_active_job(job: "Job | None") -> "Job | None":
    global _active_job
    _active_job = job
    return job


@dataclass
class Outcome:
    result: object | None = None  # what the job made: a list of core.pipeline.Take, a new style's name…
    generator: object | None = None
    error: DiffusionTalkerError | None = None  # the user's to fix; shown as it is
    crash: str | None = None  # a bug: the formatted traceback
    warnings: list[str] = field(default_factory=list)


class Job:
    """One piece of model work, run either on a worker thread (start/drain) or in place (run).

    ``work`` does it: it may load the model, reports ``progress(done, total, status)``
    and stops with ``core.errors.Cancelled`` once ``cancel_event`` is set; loading
    torch and the model happens there too, so the interface never waits on it.
    """

    def __init__(self, work: Callable[["Job", Callable], Outcome]):
        self.work = work
        self.cancel_event = threading.Event()
        self._events: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_threaded, name="diffusiontalker", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def drain(self) -> tuple[tuple | None, Outcome | None]:
        """Latest (done, total, status) progress and the outcome once finished; never blocks."""
        progress, outcome = None, None
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return progress, outcome
            if kind == "progress":
                progress = payload
            else:
                outcome = payload

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """Block until the threaded run ends (tests, shutdown); None on timeout."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.drain()[1]

    def run(self, progress: Callable | None = None) -> Outcome:
        try:
            return self.work(self, progress or (lambda done, total, status="": None))
        except DiffusionTalkerError as exc:
            return Outcome(error=exc)
        except Exception:  # noqa: BLE001 - a worker must always report back, or the UI waits forever
            return Outcome(crash=traceback.format_exc())

    def _run_threaded(self) -> None:
        outcome = self.run(progress=lambda done, total, status="": self._events.put(("progress", (done, total, status))))
        self._events.put(("done", outcome))


@dataclass
class Request:
    checkpoint: str  # "" -> the checkpoint bundled with the extension
    identity_library: str  # "" -> none; else its styles are selectable by name
    device: str
    audio: object  # a file path, or its 16 kHz wave (an array) where the main thread had to decode it already
    span: tuple[float, float] | None  # seconds of ``audio`` heard (a trimmed strip); None: all of it
    style: str
    seed: int
    variation: float  # the seed's share of the sampler's noise, 0-1 (diffusion.SeedNoise)
    steps: int  # 0: the checkpoint's own sampler
    mesh_vertices: int  # read on the main thread: the worker may not look at bpy data
    mesh_label: str
    sample_rate: int | None = None  # a wave's (core.audio.SAMPLE_RATE); None for a file
    blend_style: str = ""  # "" -> no second style
    blend: object = 0.0  # weight of blend_style: a number or per-frame weights at the model's fps
    key_poses: dict = field(default_factory=dict)  # model frame -> (V, 3) offsets the take passes through
    transcript: str = ""  # what is said, for forced alignment; "": phones recognised from the audio
    take: str = ""  # the take's name, to say which of several a problem is with


def generation_job(requests: list[Request]) -> Job:
    """Generate a take of each request in turn (one job, so that Cancel stops them all and
    nothing is written before every take is made); its result is the list of takes. A
    library the model cannot use is named beside the outcome."""
    def work(job: Job, progress) -> Outcome:
        takes, warnings, generator, several = [], [], None, len(requests) > 1
        try:
            for i, req in enumerate(requests):
                try:
                    generator, take = _generated(job, _numbered(progress, i, len(requests)), req)
                except DiffusionTalkerError as exc:
                    if not several or isinstance(exc, Cancelled):
                        raise
                    raise restated(exc, f"take '{req.take}': {exc}") from None
                takes.append(take)
                warnings += [f"{req.take}: {note}" if several else note for note in generator.said_warnings()]
        finally:  # a script's jobs run on Blender's main thread, which would keep the decoders for the session
            from ..core.phonetics import forget_decoders

            forget_decoders()
        note = library_note(requests[0].checkpoint, requests[0].device)
        return Outcome(result=takes, generator=generator, warnings=warnings + ([note] if note else []))

    return Job(work)


def _numbered(progress, i: int, count: int):
    """``progress`` over the whole run, the bar moving on from take to take, saying which
    of ``count`` takes the work is on (``progress`` itself for a single take)."""
    if count == 1:
        return progress

    def say(done, total, status=""):
        progress(i * total + done, count * total, f"Take {i + 1} of {count}: {status}" if status else "")
    return say


def _generated(job: Job, progress, req: Request):
    """(the generator, the take of ``req``); a library the model cannot use is named in its error."""
    progress(0, 1, "Loading model…")
    try:
        generator = load_generator(req.checkpoint, req.device, req.identity_library)
        check_vertex_count(req.mesh_vertices, generator.num_vertices, req.mesh_label)
        if generator.model.reads_phones:  # seconds of Whisper and PocketSphinx before the first step
            progress(0, 1, "Aligning the transcript…" if req.transcript else "Recognising the words…")
        take = generator.generate(
            req.audio, req.sample_rate, span=req.span, style=req.style, seed=req.seed, variation=req.variation,
            steps=req.steps or None,
            progress=lambda done, total: progress(done, total, f"Denoising step {done} of {total}"),
            cancel=job.cancel_event, blend_style=req.blend_style or None, blend=req.blend,
            key_poses=req.key_poses,
            hearing=lambda what, done, total: progress(done, total, f"{what}… {done:.0f} of {total:.0f} s"),
            **({"transcript": req.transcript} if req.transcript else {}),  # none: phones recognised
        )
    except DiffusionTalkerError as exc:
        note = library_note(req.checkpoint, req.device)
        raise restated(exc, f"{exc} ({note})") if note else exc
    return generator, take
