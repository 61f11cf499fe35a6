"""``diffusiontalker new-style``: a new talking style from a few reference clips.

A style is what the paper calls a talking identity: a row of its identity library.
Two ways to make one:
- from audio alone: the personaliser's embeddings of the clips, averaged in direction
  and given the typical length of a library row (the contrastive loss only shaped
  directions, the denoiser also sees lengths);
- with motion (clips that come with captured or hand-made animation): starting from
  the audio estimate, the embedding is optimised against the frozen model so that
  the diffusion loss of that motion is lowest: the identity that best explains how
  this person moves.
Styles are stored in a style library (``library.py``) (safetensors + JSON) that ``generate
--library`` and the Blender panel load beside the checkpoint's own.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .argtypes import add_device_flag, add_seed_flag, positive_int
from .errors import check_cancel
from .library import add_style, check_library_path, check_new_name, check_style_name

DESCRIPTION = """\
Make a talking style from reference clips and add it to a style library.

  diffusiontalker new-style --name alice --library styles/mine alice1.wav alice2.wav
  diffusiontalker new-style --name alice --library styles/mine a1.wav a2.wav \\
      --motion a1.npz a2.npz            # with animation: fit the style to it

--motion files are .npz with 'offsets' (T, V, 3) and their 'fps' (as 'generate'
writes them; without 'fps', the checkpoint's), one per clip, in the same order, each
as long as its clip (a file of another length is refused). Use the library with
'generate --library styles/mine --style alice'.
"""


def add_cli(sub) -> None:
    p = sub.add_parser("new-style", help="new talking style from reference clips (a voice, or its animation)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="*", help="reference recordings of the speaker (wav, flac, ogg, mp3, m4a, ...)")
    p.add_argument("--name", required=True, help="the new style's name")
    p.add_argument("--library", required=True,
                   help="style library to create or extend (NAME.json + NAME.safetensors)")
    p.add_argument("--replace", action="store_true",
                   help="replace a style of the same name in the library (default: refuse the name)")
    p.add_argument("--checkpoint", default=None, help="the model the style is for (default: bundled)")
    p.add_argument("--motion", nargs="+", default=None,
                   help="animation of each clip (.npz with 'offsets'), in the clips' order; put it after the clips")
    p.add_argument("--iterations", type=positive_int, default=200,
                   help="optimisation steps with --motion (default: 200)")
    add_seed_flag(p, "the fit to --motion")
    add_device_flag(p)
    p.set_defaults(run=run)


def embed_from_audio(gen, waves) -> "torch.Tensor":
    """Identity vector from 16 kHz recordings (as ``audio.load_audio`` returns them)."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        styles = [gen.voice_style(w) for w in waves]
        direction = F.normalize(torch.cat(styles).mean(0), dim=0)
        return direction * gen.model.bank.embeddings.norm(dim=1).mean()


def fit_to_motion(gen, waves, motions, start, iterations: int, seed: int, progress=None, cancel=None):
    """Optimise one identity vector against the frozen model's diffusion loss.

    ``motions`` are (T, V, 3) offsets at the model's fps, one per recording;
    ``progress(done, total)`` is called after each step, and ``cancel`` (an Event)
    stops the fit between steps with ``Cancelled``, the model as it was."""
    import torch

    from .diffusion import GaussianDiffusion

    model = gen.model
    trainable = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    diffusion = GaussianDiffusion(model.config["diffusion_steps"])
    scale = model.config["motion_scale"]
    data = []
    with torch.no_grad():
        for wave, offsets in zip(waves, motions):
            feats = gen.features(wave, 0, None)
            n = min(feats.shape[1], len(offsets))
            x0 = torch.from_numpy(np.asarray(offsets[:n], np.float32).reshape(n, -1) / scale)[None].to(gen.device)
            data.append((feats[:, :n], x0))
    identity = start.detach().clone().requires_grad_(True)
    try:
        return _fit(model, diffusion, data, identity, iterations, seed, progress, cancel)
    finally:
        for p, flag in zip(model.parameters(), trainable):
            p.requires_grad_(flag)


def _fit(model, diffusion, data, identity, iterations, seed, progress, cancel):
    """The optimisation loop, apart so that the model's flags are restored however it ends (a cancel)."""
    import torch

    from .losses import MotionLoss

    optimizer = torch.optim.Adam([identity], lr=0.02)
    generator = torch.Generator().manual_seed(seed)
    draws = 8  # timesteps per clip and step: one noisy timestep alone gives too noisy a gradient
    loss_fn = MotionLoss()
    for step in range(iterations):
        check_cancel(cancel)
        loss = 0.0
        for feats, x0 in data:
            feats, x0 = feats.expand(draws, -1, -1), x0.expand(draws, -1, -1)
            mask = torch.ones(x0.shape[:2], dtype=torch.bool, device=x0.device)
            loss = loss + diffusion.training_loss(
                lambda x_t, t: model.denoise(x_t, t, feats, identity.expand(draws, -1)), x0, mask,
                loss_fn, generator)["loss"]
        optimizer.zero_grad()
        (loss / len(data)).backward()
        optimizer.step()
        if progress:
            progress(step + 1, iterations)
    return identity.detach()


def _motion_of(path: str, clip: str, wave: np.ndarray, gen) -> np.ndarray:
    """A clip's animation (T, V, 3) at the model's frame rate, refused by name where it
    cannot be that recording's: a wrong head, NaN, or a length a frame or more off."""
    from .audio import SAMPLE_RATE, num_frames
    from .errors import DiffusionTalkerError
    from .timing import resample_fps

    try:
        with np.load(path, allow_pickle=False) as npz:
            offsets, fps = npz["offsets"], float(npz["fps"]) if "fps" in npz else gen.fps
    except (OSError, KeyError, ValueError) as exc:
        raise DiffusionTalkerError(f"{path}: not an animation .npz with 'offsets' ({exc})") from None
    if offsets.ndim != 3 or offsets.shape[1:] != (gen.num_vertices, 3):
        raise DiffusionTalkerError(f"{path}: offsets of shape {offsets.shape}, expected (T, {gen.num_vertices}, 3)")
    if not np.isfinite(offsets).all():
        raise DiffusionTalkerError(f"{path}: offsets hold NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0):
        raise DiffusionTalkerError(f"{path}: fps {fps} is not a frame rate")
    offsets = resample_fps(offsets, fps, gen.fps)
    frames = num_frames(len(wave), gen.fps)
    if abs(len(offsets) - frames) > max(2, 0.02 * frames):
        raise DiffusionTalkerError(f"{path} lasts {len(offsets) / gen.fps:.2f} s but {clip} "
                                   f"{len(wave) / SAMPLE_RATE:.2f} s: give each recording's own animation")
    return offsets


def run(args) -> int:
    from pathlib import Path

    from .audio import load_audio
    from .checkpoint import paths_of
    from .errors import DiffusionTalkerError
    from .outputs import writable_folder
    from .pipeline import Generator
    from tqdm import tqdm

    args.name = check_style_name(args.name)  # before loading anything
    check_library_path(args.library, "--library")
    writable_folder(paths_of(args.library)[1].parent, "--library's folder")  # files are replaced, not rewritten
    recordings = [m for m in args.motion or [] if not m.lower().endswith(".npz")]
    if recordings:  # argparse gave --motion the clips that followed it
        raise DiffusionTalkerError(f"--motion takes .npz animations, not {recordings[0]}: put the recordings "
                                   "before --motion")
    if not args.clips:
        raise DiffusionTalkerError("give one or more recordings of the speaker")
    if args.motion and len(args.motion) != len(args.clips):
        raise DiffusionTalkerError(f"give one --motion file per clip ({len(args.clips)}), got {len(args.motion)}")
    gen = Generator.load(args.checkpoint, args.device)
    for note in gen.warnings:
        print(f"warning: {note}", file=sys.stderr)
    check_new_name(gen, args.name, args.library, args.replace, "--replace")  # before the work, not only when storing
    waves = [load_audio(c) for c in args.clips]
    vector = embed_from_audio(gen, waves)
    how = "audio"
    if args.motion:
        motions = [_motion_of(path, clip, wave, gen) for path, clip, wave in zip(args.motion, args.clips, waves)]
        with tqdm(total=args.iterations, desc="fitting the style to the motion", unit="step", file=sys.stderr,
                  delay=1) as bar:
            vector = fit_to_motion(gen, waves, motions, vector, args.iterations, args.seed,
                                   progress=lambda done, total: bar.update(done - bar.n))
        how = "audio + motion"
    add_style(args.library, args.name, vector, gen, {"clips": [Path(c).name for c in args.clips], "from": how},
                 args.replace)
    print(f"style '{args.name}' ({how}) -> {paths_of(args.library)[1]}", file=sys.stderr)
    return 0
