"""``data articulate`` and ``data speakers``: SynthTalk's articulation as a tool.

Kept apart from ``data synth`` because neither needs espeak-ng: ``articulate`` animates
given phone timings (an aligner's, for a recording), ``speakers`` names the styles it
takes. Imports stay light so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path

from ..argtypes import positive_float
from ..errors import DiffusionTalkerError


def add_inspection_cli(sub) -> None:
    art = sub.add_parser("articulate", help="animate the FLAME template from phone timings (rule-based baseline)",
                         description="Animate the FLAME template with SynthTalk's articulation from phone "
                                     "timings: each PHONES.json is a list of [start_s, end_s, phone], ARPAbet "
                                     "(any case, stress digits; pau/sil/sp are silence) or espeak-ng mnemonics. "
                                     "Writes OUTDIR/<stem>.npz with offsets (T,V,3) float32 metres and fps, as "
                                     "generate does.")
    art.add_argument("phones", nargs="+", metavar="PHONES.json")
    art.add_argument("--speaker", required=True, help="SynthTalk speaker whose style to use (see 'data speakers')")
    art.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="folder for the .npz files (created)")
    art.add_argument("--fps", type=positive_float, default=30.0, help="frame rate (default 30)")
    art.add_argument("--template", help="FLAME-topology .ply with FLAME_masks.json beside it "
                                        "(default ../shared/flame/FLAME_sample.ply when present)")
    art.set_defaults(run=_run_articulate)
    speakers = sub.add_parser("speakers", help="list SynthTalk's speakers, training and held out",
                              description="Every SynthTalk speaker name, one per line (training first, then the "
                                          "held-out ones).")
    speakers.set_defaults(run=_run_speakers)


def _run_articulate(args) -> int:
    import numpy as np

    from ..outputs import writable_folder
    from .articulate import articulate, read_phones
    from .build import default_template, load_rig
    from .speakers import style_named

    style = style_named(args.speaker)
    out = writable_folder(args.out)
    stems = [Path(p).stem for p in args.phones]
    if len(set(stems)) < len(stems):
        raise DiffusionTalkerError("two inputs share a file name; their outputs would overwrite each other")
    inputs = [read_phones(p) for p in args.phones]  # every file checked before any work
    rig = load_rig(Path(args.template) if args.template else default_template())
    out.mkdir(parents=True, exist_ok=True)
    for stem, (phones, alphabet) in zip(stems, inputs):
        offsets = articulate(rig, style, phones, args.fps)
        np.savez_compressed(out / f"{stem}.npz", offsets=offsets, fps=np.float64(args.fps),
                            style=np.str_(style.name))
        print(f"{out / stem}.npz: {len(offsets)} frames at {args.fps:g} fps ({alphabet}), speaker {style.name}")
    return 0


def _run_speakers(args) -> int:
    from .speakers import STYLES

    for style in STYLES:
        print(style.name)
    return 0
