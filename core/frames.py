"""Averages over the frames of a padded batch.

Training pads a batch's windows to the longest one; anything that pools over time
(the personaliser, the denoiser's clip summary, the style loss) must count a clip's
real frames only, or a short clip's statistics would take in its padding.
"""

from __future__ import annotations

import torch


def frame_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, ...) -> (B, ...): the mean over each clip's real frames; ``mask`` (B, T),
    True (or 1) on real frames, None when every frame is real."""
    if mask is None:
        return x.mean(dim=1)
    m = mask.to(x.dtype).reshape(*mask.shape, *(1,) * (x.dim() - 2))
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
