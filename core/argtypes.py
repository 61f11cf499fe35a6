"""argparse value types that refuse numbers no run can use, and the flags commands share.

A zero batch, a NaN learning rate or a negative frame rate otherwise reaches torch and
comes back as a traceback minutes later, or worse, as a run that "succeeds" and saves
NaN weights. Checked here, the user gets argparse's one-line usage error at once.
"""

from __future__ import annotations

import argparse
import math


def _checked(kind, allowed, requirement: str):
    """A parser of ``kind`` (int or float) that accepts finite values for which
    ``allowed(value)`` holds, and otherwise says the ``requirement``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if (kind is float and not math.isfinite(value)) or not allowed(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    return parse


positive_int = _checked(int, lambda v: v >= 1, "at least 1")
non_negative_int = _checked(int, lambda v: v >= 0, "0 or more")
positive_float = _checked(float, lambda v: v > 0, "a finite number greater than 0")
non_negative_float = _checked(float, lambda v: v >= 0, "a finite number, 0 or more")
unit_interval = _checked(float, lambda v: 0 <= v <= 1, "between 0 and 1")
guidance_scale = _checked(float, lambda v: 0 <= v <= 10, "between 0 and 10")
# torch and numpy generators take seeds of 0 ... 2**63 - 1
random_seed = _checked(int, lambda v: 0 <= v < 2 ** 63, "between 0 and 2**63 - 1")


# The seed's share of a take's noise (diffusion.SeedNoise), the rest shared by every seed:
# below 1 takes of different seeds fall closer together while the style's part stays, so
# the chosen style shows through (docs/results.md, "Styles visible in the output").
# Torch-free here because the Blender panel's slider needs it before torch is loaded.
DEFAULT_VARIATION = 0.3


# ---- the flags several commands share, said once --------------------------------------------

def add_seed_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--seed", type=random_seed, default=0,
                   help=f"seed of {what}; the same seed repeats the run exactly (default: 0)")


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="where to run: auto takes a GPU when there is one; an unavailable device falls back to "
                        "the CPU with a warning (default: auto)")


def add_dataset_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=["synthtalk", "vocaset", "biwi"], default="synthtalk",
                   help="layout of --data: SynthTalk (made by 'data synth'), or processed VOCASET or BIWI, laid out "
                        "as core/data.py describes (default: synthtalk)")


def add_variation_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variation", type=unit_interval, default=DEFAULT_VARIATION,
                   help="how far takes of different seeds may differ, 0-1: 0 gives one take whatever the seed, 1 "
                        "the model's full spread, where the seed can matter as much as the style "
                        f"(default: {DEFAULT_VARIATION:g})")


def guidance_pair(text: str) -> tuple[float, float]:
    """``AUDIO,STYLE`` classifier-free guidance scales (``denoiser.forward``), or one number for both."""
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"give AUDIO,STYLE or one scale for both, got {text!r}")
    scales = [guidance_scale(part.strip()) for part in parts]
    return (scales[0], scales[-1])


def add_guidance_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--guidance", type=guidance_pair, default=None, metavar="AUDIO,STYLE",
                   help=f"classifier-free guidance scales {what}: above 1 the motion follows the audio (its "
                        "phones) and the talking style more closely than the plain model, at the cost of a "
                        "denoiser pass each; 1 is none. One number sets both. Needs a model trained with "
                        "train --unconditional")
