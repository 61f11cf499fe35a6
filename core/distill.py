"""``diffusiontalker distill``: progressive distillation of a teacher to few steps.

Salimans & Ho (2022): a student, initialised from its teacher, learns to land in one
deterministic (DDIM) step where the teacher lands in two. Each round halves the step
count and the student becomes the next round's teacher, until the target (8 by
default; 4, 2 or 1 on request). In the x0-parameterisation the student's target is
the clean sample that makes its single DDIM step from t reach the teacher's x at t'':

    x0~ = (x_t'' - r * x_t) / (sqrt(ᾱ_t'') - r * sqrt(ᾱ_t)),   r = sqrt((1 - ᾱ_t'') / (1 - ᾱ_t))

``--contact-weight`` and ``--style-weight`` add losses.py's mouth terms against the data
itself, so a student can close its lips more surely than its teacher does.
The identity library and the personaliser travel with the student (the contrastive
loss stays on), so styles by name and ``--style auto`` keep working after distillation.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

from .argtypes import (add_dataset_flag, add_device_flag, add_guidance_flag, add_seed_flag, non_negative_float,
                       positive_int)
from .train import add_shared_flags, restyle_from_args, with_mel_level

DESCRIPTION = """\
Distil a trained teacher into a few-step student (progressive distillation).

  diffusiontalker distill --teacher runs/teacher.json --data data/synthtalk --out runs/ --to-steps 8

Each round halves the number of DDIM steps (e.g. 512 -> 256 -> ... -> 8). With
--keep-rounds every round's student is saved as NAME_<steps>steps.

Fewer rounds hand the teacher's motion on more faithfully: every round after the first
learns from a student. On the demo's data, three rounds of 100 iterations (--from-steps
64) opened the mouth a third wider than the teacher sampled in 8 DDIM steps, where one
round of 300 (--from-steps 16) came within 2% of it (docs/results.md, "How far a student
strays from its teacher"; measure yours with bench/distill_fidelity.py).
"""


def add_cli(sub) -> None:
    p = sub.add_parser("distill", help="progressive distillation of a teacher to 8 (or fewer) steps",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True, help="teacher checkpoint (.json or .safetensors)")
    p.add_argument("--data", required=True, help="the dataset the teacher was trained on")
    add_dataset_flag(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--name", default="student", help="checkpoint name (default: student)")
    p.add_argument("--from-steps", type=positive_int, default=None,
                   help="the DDIM step count to start from (default: a teacher's training steps T; a student's "
                        "own step count, so a distilled 8-step student goes on to 4, 2, 1)")
    p.add_argument("--to-steps", type=positive_int, default=8, help="final student steps (default: 8)")
    p.add_argument("--iterations", type=positive_int, default=300, help="optimizer steps per round (default: 300)")
    p.add_argument("--lr", type=non_negative_float, default=1e-4, help="learning rate, AdamW (default: 1e-4)")
    add_shared_flags(p)
    add_guidance_flag(p, "of the teacher, learnt by the student so it samples so at no extra cost (guidance "
                         "distillation, Meng et al. 2023); the first round only, since later rounds learn from a "
                         "student that has it already (default: 1,1, none)")
    p.add_argument("--note", default="", help="free text for the checkpoint card (what it is for, caveats)")
    p.add_argument("--keep-rounds", action="store_true", help="save the student of every round")
    add_seed_flag(p, "the windows and the noise")
    add_device_flag(p)
    p.set_defaults(run=run)


def student_path(args, steps: int) -> str:
    """Where the student of ``steps`` goes: OUT/NAME for the last round, OUT/NAME_<k>steps
    for the rounds --keep-rounds keeps."""
    return os.path.join(args.out, args.name if steps == args.to_steps else f"{args.name}_{steps}steps")


def _round_card(args, teacher_card: dict, start: int, rounds: list[int]) -> dict:
    """The card of the student after ``rounds`` (its step counts so far, the last its own)."""
    return {
        "trained_on": teacher_card.get("trained_on", "unknown"),
        "description": f"progressive distillation of {os.path.basename(str(args.teacher))} to {rounds[-1]} DDIM steps",
        "distillation": {"from_steps": start, "rounds": rounds, "iterations_per_round": args.iterations,
                         "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                         "style_weight": args.style_weight, "contact_weight": args.contact_weight,
                         "cross_speaker": args.cross_speaker, "mel_level": args.mel_level, "augment": args.augment,
                         "teacher_guidance": list(args.guidance or (1.0, 1.0))},
        "teacher_card": teacher_card,
        "note": args.note,
    }


def run(args) -> int:
    import torch
    from tqdm import tqdm

    from .augment import augmenter
    from .batches import batch_sampler, clip_items, load_split
    from .clip_phones import heard_in
    from .checkpoint import load_checkpoint, paths_of, save_checkpoint
    from .diffusion import GaussianDiffusion, step_grid
    from .errors import DiffusionTalkerError, restated
    from .identity import contrastive_loss
    from .device import resolve_device
    from .losses import loss_from_args
    from .outputs import writable_folder
    from .trainstate import optimisation_step

    writable_folder(args.out, "--out")
    device, notes = resolve_device(args.device)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    teacher, doc = load_checkpoint(args.teacher, device)
    config = teacher.config
    try:
        guidance = teacher.guidance(args.guidance)
    except DiffusionTalkerError as exc:
        raise restated(exc, f"--guidance: {args.teacher}: {exc}") from None
    T = config["diffusion_steps"]
    # a student goes on from the steps it was distilled to (8 -> 4 -> 2 -> 1), never from the teacher's T
    most = config["sampling_steps"] if config["distilled"] else T
    n = args.from_steps or most
    if n > most or (config["distilled"] and n != most):  # a student knows its own grid only, not a coarser one
        raise DiffusionTalkerError(f"--from-steps {n}: {args.teacher} samples in "
                                   + (f"exactly {most} steps" if config["distilled"] else f"at most {most} steps"))
    if n <= args.to_steps:
        raise DiffusionTalkerError(f"nothing to distill: {n} steps are already no more than "
                                   f"--to-steps {args.to_steps}")
    if n % args.to_steps or (n // args.to_steps) & (n // args.to_steps - 1):
        raise DiffusionTalkerError(f"{n} steps cannot be halved down to --to-steps {args.to_steps}: "
                                   f"it must be {n} divided by a power of two")
    start = n
    rounds = [n >> i for i in range(1, (n // args.to_steps).bit_length())]  # the step counts reached, n/2 ... to
    saved = {k: student_path(args, k) for k in rounds if args.keep_rounds or k == args.to_steps}
    if paths_of(args.teacher)[1].resolve() in [paths_of(p)[1].resolve() for p in saved.values()]:
        raise DiffusionTalkerError(f"the student would be saved over its teacher {args.teacher}: choose another "
                                   "--name or --out")
    torch.manual_seed(args.seed)
    clips = load_split(args.dataset, args.data, "train")
    unknown = sorted({c.speaker for c in clips} - set(teacher.bank.names))
    if unknown:
        raise DiffusionTalkerError(f"{args.teacher} was trained on {', '.join(teacher.bank.names)}; {args.data} "
                                   f"also has {', '.join(unknown)}: distill on the teacher's own data")
    heard = heard_in(args.dataset, args.data, clips) if teacher.reads_phones else None
    items = clip_items(clips, teacher.bank.names, config["motion_scale"], heard=heard)
    loss_fn = loss_from_args(args, clips[0].template, config["motion_scale"], device)
    restyle = restyle_from_args(args, clips, teacher.bank.names, config["motion_scale"])
    augment = augmenter(args.augment, config["fps"])
    diffusion = GaussianDiffusion(T)
    generator = torch.Generator().manual_seed(args.seed)
    encoder = with_mel_level(config["encoder"], args.mel_level, clips)
    # a student that reads audio another way than its teacher starts from the teacher's weights all the same
    student = (copy.deepcopy(teacher) if encoder == config["encoder"]
               else teacher.reconfigured({**config, "encoder": encoder}).to(device))
    teacher.requires_grad_(False)
    card = None  # the last finished round's, whose student is then ``teacher``
    try:
        while n > args.to_steps:
            half = n // 2
            grid = torch.tensor(step_grid(T, n) + [-1], device=device)
            student.train()
            optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
            batches = batch_sampler(items, args.batch_size, args.window, config["fps"], seed=args.seed + n,
                                    restyle=restyle, augment=augment, aligned_share=args.aligned_share)
            bar = tqdm(range(args.iterations), desc=f"distill {n}->{half} steps", file=sys.stderr)
            for step in bar:
                wave, motion, mask, voice, style, _, heard = next(batches).to(device)
                k = torch.randint(0, half, (len(motion),), generator=generator).to(device)
                t, t_mid, t_next = grid[2 * k], grid[2 * k + 1], grid[2 * k + 2]
                noise = torch.randn(motion.shape, generator=generator).to(device)
                x_t = diffusion.q_sample(motion, t, noise)
                with torch.no_grad():
                    feats_t = teacher.encode_audio(wave, motion.shape[1], mask, heard)
                    ident_t = teacher.bank(style)
                    x_mid = diffusion.ddim_step(x_t, teacher.denoise(x_t, t, feats_t, ident_t, mask, guidance),
                                                t, t_mid)
                    x_next = diffusion.ddim_step(
                        x_mid, teacher.denoise(x_mid, t_mid, feats_t, ident_t, mask, guidance), t_mid, t_next)
                    target = diffusion.distillation_target(x_t, t, x_next, t_next)
                feats = student.encode_audio(wave, motion.shape[1], mask, heard)
                pred = student.denoise(x_t, t, feats, student.bank(style), mask)
                losses = loss_fn(pred, target, mask, truth=motion)
                voiced = student.voice_features(wave, motion.shape[1], feats, mask)
                c = contrastive_loss(student.personalise(voiced, mask), student.bank.embeddings, voice,
                                     args.temperature)
                loss = losses["loss"] + args.contrastive_weight * c
                optimisation_step(optimizer, loss, student, step)
                bar.set_postfix(loss=f"{losses['loss'].item():.4f}", contrastive=f"{c.item():.3f}")
            n = half
            student.eval()
            # only conditional inputs were distilled: a student is not guided again, it is guided already
            student.config.update(sampling_steps=n, distilled=True, unconditional=False)
            card = _round_card(args, doc["card"], start, [k for k in rounds if k >= n])
            if n in saved:
                path = save_checkpoint(saved[n], student, card)
                print(f"saved {n}-step student -> {path}", file=sys.stderr)
            teacher = copy.deepcopy(student).requires_grad_(False)
            guidance = (1.0, 1.0)
    except KeyboardInterrupt:
        # A round's work would be lost with it (only the last is saved without --keep-rounds).
        if card is not None and n not in saved:
            path = save_checkpoint(student_path(args, n), teacher, card)
            print(f"interrupted: the {n}-step student of the last finished round saved to {path}; "
                  f"continue with --teacher {path} --from-steps {n}", file=sys.stderr)
        raise
    return 0
