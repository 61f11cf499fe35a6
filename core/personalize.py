"""``diffusiontalker personalize``: a new talking identity from a few reference clips.

Two ways, as DiffusionTalker's identity library allows:
- from audio alone: the personaliser's embeddings of the clips, averaged in direction
  and given the typical length of a library row (the contrastive loss only shaped
  directions, the denoiser also sees lengths);
- with motion (clips that come with captured or hand-made animation): starting from
  the audio estimate, the embedding is optimised against the frozen model so that
  the diffusion loss of that motion is lowest: the identity that best explains how
  this person moves.
Identities are stored in an identity library (safetensors + JSON) that ``generate
--library`` and the Blender panel load beside the checkpoint's own.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

LIBRARY_FORMAT = "diffusiontalker-identities"

DESCRIPTION = """\
Make a talking identity from reference clips and add it to an identity library.

  diffusiontalker personalize --name alice --library styles/mine alice1.wav alice2.wav
  diffusiontalker personalize --name alice --library styles/mine a1.wav a2.wav \\
      --motion a1.npz a2.npz            # with animation: fit the identity to it

--motion files are .npz with 'offsets' (T, V, 3) at the checkpoint's fps (as
'generate' writes them), one per clip, in the same order. Use the library with
'generate --library styles/mine --style alice'.
"""


def add_cli(sub) -> None:
    p = sub.add_parser("personalize", help="new talking identity from reference clips",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="+", help="reference recordings of the speaker (wav, flac, ogg)")
    p.add_argument("--name", required=True, help="the new identity's name")
    p.add_argument("--library", required=True,
                   help="identity library to create or extend (NAME.json + NAME.safetensors)")
    p.add_argument("--checkpoint", default=None, help="the model the identity is for (default: bundled)")
    p.add_argument("--motion", nargs="*", default=None, help="animation of each clip (.npz with 'offsets')")
    p.add_argument("--iterations", type=int, default=200, help="optimisation steps with --motion (default: 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(run=run)


def embed_from_audio(gen, clips) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    from .audio import load_audio

    with torch.no_grad():
        styles = [gen.model.personalise(gen.features(load_audio(c), 0, None)) for c in clips]
        direction = F.normalize(torch.cat(styles).mean(0), dim=0)
        return direction * gen.model.bank.embeddings.norm(dim=1).mean()


def fit_to_motion(gen, clips, motions, start, iterations: int, seed: int):
    """Optimise one identity vector against the frozen model's diffusion loss."""
    import torch

    from .audio import load_audio
    from .diffusion import GaussianDiffusion

    model = gen.model
    model.requires_grad_(False)
    diffusion = GaussianDiffusion(model.config["diffusion_steps"])
    scale = model.config["motion_scale"]
    data = []
    with torch.no_grad():
        for clip, offsets in zip(clips, motions):
            feats = gen.features(load_audio(clip), 0, None)
            n = min(feats.shape[1], len(offsets))
            x0 = torch.from_numpy(np.asarray(offsets[:n], np.float32).reshape(n, -1) / scale)[None].to(gen.device)
            data.append((feats[:, :n], x0))
    identity = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([identity], lr=0.02)
    generator = torch.Generator().manual_seed(seed)
    draws = 8  # timesteps per clip and step: one noisy timestep alone gives too noisy a gradient
    for _ in range(iterations):
        loss = 0.0
        for feats, x0 in data:
            feats, x0 = feats.expand(draws, -1, -1), x0.expand(draws, -1, -1)
            mask = torch.ones(x0.shape[:2], dtype=torch.bool, device=x0.device)
            loss = loss + diffusion.training_loss(
                lambda x_t, t: model.denoise(x_t, t, feats, identity.expand(draws, -1)), x0, mask,
                generator)["loss"]
        optimizer.zero_grad()
        (loss / len(data)).backward()
        optimizer.step()
    return identity.detach()


def save_library(path, names: list[str], embeddings: np.ndarray, checkpoint_id: str, sources: dict) -> None:
    import torch

    from .checkpoint import save_pair

    save_pair(path, {"embeddings": torch.from_numpy(np.asarray(embeddings, np.float32))},
              {"names": names, "checkpoint": checkpoint_id, "sources": sources}, LIBRARY_FORMAT)


def load_library(path) -> tuple[list[str], np.ndarray, dict]:
    from .checkpoint import load_tensors
    from .errors import CheckpointError

    doc, tensors = load_tensors(path, LIBRARY_FORMAT, required=("sha256", "names"))
    embeddings = tensors.get("embeddings")
    if embeddings is None or embeddings.dim() != 2 or len(embeddings) != len(doc["names"]):
        raise CheckpointError(f"{path}: identity library tensors do not match its names")
    return list(doc["names"]), embeddings.numpy(), doc


def run(args) -> int:
    from pathlib import Path

    from .checkpoint import paths_of
    from .errors import DiffusionTalkerError
    from .pipeline import Generator

    if args.motion and len(args.motion) != len(args.clips):
        raise DiffusionTalkerError(f"give one --motion file per clip ({len(args.clips)}), got {len(args.motion)}")
    gen = Generator.load(args.checkpoint, args.device)
    names, rows, sources = [], np.zeros((0, gen.model.config["d_identity"]), np.float32), {}
    if paths_of(args.library)[1].is_file():
        names, rows, doc = load_library(args.library)
        sources = doc.get("sources", {})
        if doc.get("checkpoint") != gen.checkpoint_id():
            print("warning: this library was made for another checkpoint", file=sys.stderr)
    if args.name in gen.model.bank.names:
        raise DiffusionTalkerError(f"'{args.name}' is already a style of the checkpoint; choose another name")
    vector = embed_from_audio(gen, args.clips)
    how = "audio"
    if args.motion:
        motions = []
        for path in args.motion:
            try:
                with np.load(path, allow_pickle=False) as npz:
                    motions.append(npz["offsets"])
            except (OSError, KeyError, ValueError) as exc:
                raise DiffusionTalkerError(f"{path}: not an animation .npz with 'offsets' ({exc})") from None
            if motions[-1].ndim != 3 or motions[-1].shape[1] != gen.num_vertices:
                raise DiffusionTalkerError(f"{path}: offsets of shape {motions[-1].shape}, expected "
                                           f"(T, {gen.num_vertices}, 3)")
        vector = fit_to_motion(gen, args.clips, motions, vector, args.iterations, args.seed)
        how = "audio + motion"
    if args.name in names:
        rows[names.index(args.name)] = vector.cpu().numpy()
    else:
        names.append(args.name)
        rows = np.concatenate([rows, vector.cpu().numpy()[None]])
    sources[args.name] = {"clips": [Path(c).name for c in args.clips], "from": how}
    save_library(args.library, names, rows, gen.checkpoint_id(), sources)
    print(f"identity '{args.name}' ({how}) -> {paths_of(args.library)[1]}", file=sys.stderr)
    return 0
