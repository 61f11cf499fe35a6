"""``diffusiontalker generate``: speech file -> animation (.npz or an .obj sequence)."""

from __future__ import annotations

import argparse
import math
import os
import sys

from .argtypes import (add_device_flag, add_guidance_flag, add_variation_flag, positive_float, positive_int,
                       random_seed)
from .hearing import FrontEnd
from .phonetics import add_transcript_flags

DESCRIPTION = """\
Generate facial animation for a speech recording.

The result is per-frame vertex offsets from the neutral face of a FLAME-topology
head (5023 vertices for the bundled checkpoint). Give --template to also get
absolute vertex positions (template + offsets), which .obj output needs.

A checkpoint that reads phones (the bundled one does, and its lips follow nothing
else) runs the phonetic front-end on the audio: the words Whisper base recognises
(PocketSphinx's language model where Whisper is not installed, or with
DIFFUSIONTALKER_WHISPER=off), or, with --transcript / --transcript-file, the
transcript's, aligned to the sound by PocketSphinx (US-English), as with Rhubarb's
dialog file. On 64 real voice lines the fit to the phones is r 0.60 from the audio
alone and 0.64 with the transcript (docs/results.md, "Real voices"). Other
checkpoints ignore a transcript.

Without --checkpoint the bundled demo checkpoint is used; read its card
(the "card" of core/assets/demo.json; README, "The bundled checkpoint") to see what it was trained on before judging the result.
"""

EPILOG = """\
npz contents: offsets (T,V,3) float32 metres; vertices (T,V,3) when --template is
given; fps; style; seed; steps; variation; checkpoint (file name and sha256); transcript (the text
whose phones were aligned, "" when they were recognised or not read); blend_with (the
style's name, also for an index or auto) and blend with --blend-with. The file is
written beside its place and moved in whole, so an interrupted or failed write leaves
an earlier file as it was.

examples:
  diffusiontalker generate speech.wav -o take.npz
  diffusiontalker generate speech.wav -o take.npz --style 2 --seed 11 --steps 8
  diffusiontalker generate speech.wav -o take.npz --seed 3 --variation 1
  diffusiontalker generate line.wav -o take.npz --transcript "Put the map back"
  diffusiontalker generate speech.flac -o frames/ --format obj --template head.ply --fps 24
"""


def add_cli(sub) -> None:
    p = sub.add_parser("generate", help="speech -> facial animation (npz or obj sequence)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="?",
                   help="speech recording (wav, flac, ogg, mp3, m4a, aac or mp4; any sample rate, mono or stereo)")
    p.add_argument("-o", "--output", help="output .npz file, or a folder for --format obj")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint .json or .safetensors (default: the bundled demo checkpoint)")
    p.add_argument("--style", default="auto",
                   help="talking style: a name or index from the checkpoint's styles, "
                        "or 'auto' to find the closest style from the audio (default: auto)")
    p.add_argument("--blend-with", default=None, metavar="STYLE",
                   help="a second style to mix in (name or index)")
    p.add_argument("--blend", default="0.5", metavar="W|T:W,...",
                   help="weight of --blend-with: a number in [0, 1], or keys 'seconds:weight,...' "
                        "interpolated over the clip, e.g. '0:0,3:1' (default: 0.5)")
    p.add_argument("--key-pose", action="append", default=[], metavar="SECONDS=MESH",
                   help="hold the face in MESH's pose at that time (repeatable; needs --template)")
    p.add_argument("--library", default=None,
                   help="style library made by 'diffusiontalker new-style' (adds its styles)")
    p.add_argument("--list-styles", action="store_true", help="print the checkpoint's styles and exit")
    p.add_argument("--seed", type=random_seed, default=0, help="random seed; other seeds give other takes (default: 0)")
    add_variation_flag(p)
    add_guidance_flag(p, "for this take (default: 1,1, none)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="denoising steps (default: the checkpoint's own, 8 for the distilled student)")
    add_transcript_flags(p)
    add_device_flag(p)
    p.add_argument("--template", default=None,
                   help="neutral head (.ply or .obj) with the checkpoint's vertex count; adds 'vertices'")
    p.add_argument("--transfer", choices=["offsets", "deformation"], default="offsets",
                   help="how motion reaches --template: add the offsets as they are, or scale them with the "
                        "face's local shape relative to --source-neutral (default: offsets)")
    p.add_argument("--source-neutral", default=None,
                   help="the neutral head the checkpoint was trained on, for --transfer deformation")
    p.add_argument("--fps", type=positive_float, default=None, help="output frame rate (default: the model's, 30)")
    p.add_argument("--format", choices=["npz", "obj"], default="npz", help="output format (default: npz)")
    p.add_argument("--max-seconds", type=positive_float, default=600.0,
                   help="refuse audio longer than this many seconds (default: 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from .card import BUNDLED, read_card
    from .errors import DiffusionTalkerError
    from .mesh import check_vertex_count, read_mesh, write_obj_sequence
    from .outputs import replacing, writable_file, writable_folder
    from .library import check_library_fits, load_library
    from .phonetics import transcript_from_args
    from .timing import resample_fps

    if args.list_styles:
        card = read_card(args.checkpoint or BUNDLED)
        names = card["config"]["identities"]
        if args.library:  # read whole, so a broken or edited library is told here, not at generation
            added, _, library = load_library(args.library)
            check_library_fits(args.library, library, card["sha256"])
            names += added
        print("\n".join(f"{i}\t{n}" for i, n in enumerate(names)))
        return 0
    if args.audio is None or args.output is None:
        raise DiffusionTalkerError("generate needs a speech recording and -o OUTPUT (only --list-styles needs neither)")
    if args.format == "obj" and args.template is None:
        raise DiffusionTalkerError("--format obj needs --template (the neutral head the offsets apply to)")
    if args.format == "obj":
        if args.output.endswith(".npz"):
            raise DiffusionTalkerError(f"-o {args.output}: --format obj writes a folder of frames; give a folder name")
        writable_folder(args.output, "-o")
    elif not os.path.basename(args.output) or os.path.isdir(args.output):
        raise DiffusionTalkerError(f"-o {args.output} is a folder; give a file name (take.npz)")
    else:  # numpy adds .npz to a name without it; say so, and check the file it will really write
        args.output = str(writable_file(args.output if args.output.endswith(".npz") else args.output + ".npz", "-o"))
    transcript = transcript_from_args(args)
    if args.fps is not None and args.fps > 1000:  # positive already; this many frames would not fit in memory
        raise DiffusionTalkerError(f"--fps {args.fps:g}: at most 1000 frames per second")

    if args.key_pose and args.template is None:
        raise DiffusionTalkerError("--key-pose needs --template (poses are meshes relative to the neutral)")
    for unused, partner in ((args.blend != "0.5" and args.blend_with is None, "--blend without --blend-with"),
                            (args.source_neutral and args.transfer != "deformation",
                             "--source-neutral without --transfer deformation")):
        if unused:
            print(f"warning: {partner} changes nothing", file=sys.stderr)
    # The front-end starts before torch is imported and the model loads meanwhile (in a
    # forked process where that overlaps them: hearing.py). Ctrl-C or an error stops it at
    # its next word or piece rather than waiting for it to finish.
    hearing = None
    if read_card(args.checkpoint or BUNDLED)["config"].get("phonetic"):
        hearing = FrontEnd(args.audio, transcript, args.max_seconds, args.quiet)
    try:
        from .pipeline import Generator

        generator = Generator.load(args.checkpoint, args.device)
        if args.library:
            generator.add_library(args.library)
        # every option checked while the front-end works: a typo must not wait for it
        generator.check_options(args.style, args.steps, args.variation, args.blend_with, args.guidance)
        blend = blend_weights(args.blend, generator.fps)
        template = None
        if args.template:
            template = read_mesh(args.template)
            check_vertex_count(template.num_vertices, generator.num_vertices, f"template {args.template}")
        poses = key_poses(args.key_pose, template, generator)
        source = transfer_source(args.source_neutral, template, generator) if args.transfer == "deformation" else None
        phones, said = hearing.result() if hearing is not None else (None, [])
    except BaseException:
        if hearing is not None:
            hearing.stop()
        raise
    for note in generator.warnings + said:  # said: words the aligner had to guess
        print(f"warning: {note}", file=sys.stderr)
    if transcript is not None and not generator.model.reads_phones:
        print("warning: this checkpoint does not read phones: the transcript changes nothing", file=sys.stderr)

    # delay: no empty bar before the first step, so a bad audio file gets its error message alone
    bar = None if args.quiet else tqdm(desc="denoising", unit="step", file=sys.stderr, leave=False, delay=1)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        take = generator.generate(args.audio, style=args.style, seed=args.seed, steps=args.steps,
                                  progress=None if bar is None else progress, max_seconds=args.max_seconds,
                                  blend_style=args.blend_with, blend=blend, key_poses=poses, transcript=transcript,
                                  phones=phones, variation=args.variation, guidance=args.guidance)
    finally:
        if bar is not None:
            bar.close()
    fps = args.fps or take.fps
    offsets = resample_fps(take.offsets, take.fps, fps).astype(np.float32)
    if source is not None:
        from .retarget import retarget

        offsets = retarget(offsets, source.vertices, template.vertices, template.faces, "deformation")

    if args.format == "obj":
        paths = write_obj_sequence(args.output, template.vertices[None] + offsets, template.faces)
        where = f"{len(paths)} .obj files in {args.output}"
    else:
        out = {"offsets": offsets, "fps": np.float64(fps), "style": np.str_(take.style),
               "seed": np.int64(take.seed), "steps": np.int64(take.steps), "variation": np.float64(take.variation),
               "checkpoint": np.str_(generator.checkpoint_id()),
               "transcript": np.str_(transcript if transcript and generator.model.reads_phones else "")}
        if take.blend_style:  # a blended take is not the pure style its name says
            out |= {"blend_with": np.str_(take.blend_style), "blend": np.str_(args.blend)}
        if template is not None:
            out["vertices"] = (template.vertices[None] + offsets).astype(np.float32)
        # uncompressed: deflate saves 5% of a take's float offsets and costs 1.6 s on 30 s of speech
        with replacing(args.output, "-o") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **out)
        where = args.output
    if not args.quiet:
        blended = f" blended with '{take.blend_style}'" if take.blend_style else ""
        print(f"{len(offsets)} frames at {fps:g} fps, style '{take.style}'{blended}, seed {take.seed}, "
              f"{take.steps} steps, {take.compute_seconds:.2f} s for {take.audio_seconds:.2f} s of audio "
              f"-> {where}", file=sys.stderr)
    return 0


def blend_weights(text: str, fps: float):
    """'0.3' -> 0.3; '0:0,2.5:1' -> per-frame weights up to the last key (held after it)."""
    import numpy as np

    from .errors import DiffusionTalkerError

    try:
        keys = ([(0.0, float(text))] if ":" not in text else
                sorted((float(t), float(w)) for t, w in (item.split(":") for item in text.split(","))))
    except ValueError:
        raise DiffusionTalkerError(f"--blend {text!r}: expected a number or 'seconds:weight,...'") from None
    if not all(0.0 <= w <= 1.0 and 0.0 <= t < math.inf for t, w in keys):  # NaN fails both
        raise DiffusionTalkerError(f"--blend {text!r}: weights must be within 0-1 and times 0 or more")
    if ":" not in text:
        return keys[0][1]
    # up to the first frame at or past the last key, so the weight held after it is that key's
    times = np.arange(math.ceil(keys[-1][0] * fps - 1e-6) + 1) / fps
    return np.interp(times, [k[0] for k in keys], [k[1] for k in keys])


def key_poses(specs: list[str], template, generator) -> dict:
    from .errors import DiffusionTalkerError
    from .mesh import check_vertex_count, read_mesh

    poses = {}
    for spec in specs:
        seconds, sep, path = spec.partition("=")
        try:
            frame = int(round(float(seconds) * generator.fps))
        except ValueError:
            sep = ""
        if not sep:
            raise DiffusionTalkerError(f"--key-pose {spec!r}: expected SECONDS=MESH, e.g. 4.0=smile.obj")
        mesh = read_mesh(path)
        check_vertex_count(mesh.num_vertices, generator.num_vertices, f"key pose {path}")
        poses[frame] = mesh.vertices - template.vertices
    return poses


def transfer_source(source_path, template, generator):
    """The neutral the model's offsets are relative to, for ``--transfer deformation``."""
    from .errors import DiffusionTalkerError
    from .mesh import check_vertex_count, read_mesh

    if template is None or source_path is None:
        raise DiffusionTalkerError("--transfer deformation needs --template and --source-neutral")
    source = read_mesh(source_path)
    check_vertex_count(source.num_vertices, generator.num_vertices, f"source neutral {source_path}")
    return source
