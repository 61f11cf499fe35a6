"""Talking identities: the learnable identity library and the personaliser.

DiffusionTalker conditions generation on a *talking identity*: one learnable
embedding per training speaker (the library, ``IdentityBank``), and a personaliser
that reads a speaker's style off the audio. A contrastive (InfoNCE) loss pulls the
personaliser's embedding of a clip onto its own speaker's library row and away from
the others, which is what makes ``--style auto`` possible: embed the new voice, take
the nearest library row. The bank rows also condition the denoiser, so a style chosen
by name and a style found from audio live in the same space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import StyleError
from .frames import frame_mean


def style_index(style: str | int, names: list[str]) -> int:
    """Accept a name, an index, or an index written as text (CLI and UI pass strings),
    counted through ``names`` as ``generate --list-styles`` prints them."""
    if isinstance(style, str) and style in names:
        return names.index(style)
    try:
        i = int(style)
    except (TypeError, ValueError):
        raise StyleError(f"unknown talking style {style!r}; choose one of: "
                         f"{', '.join(names)} (or its index 0-{len(names) - 1}, or 'auto')") from None
    if not 0 <= i < len(names):
        raise StyleError(f"style index {i} out of range 0-{len(names) - 1}")
    return i


class IdentityBank(nn.Module):
    def __init__(self, names: list[str], dim: int):
        super().__init__()
        if not names:
            raise ValueError("an identity library needs at least one identity")
        self.names = list(names)
        self.embeddings = nn.Parameter(torch.randn(len(names), dim) * 0.5)

    def index(self, style: str | int) -> int:
        return style_index(style, self.names)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.embeddings[idx]


class Personaliser(nn.Module):
    """Style encoder: audio features -> one identity-space vector per clip.

    A small transformer encoder and a masked mean over time (DiffPoseTalk's style
    encoder, applied to speech instead of motion), since identity is a property of the
    whole utterance, not of a frame.
    """

    def __init__(self, d_model: int, d_identity: int, n_layers: int = 2, n_heads: int = 4):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 2 * d_model, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, d_identity)

    def forward(self, audio_features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(audio_features, src_key_padding_mask=None if mask is None else ~mask)
        return self.out(frame_mean(h, mask))


def contrastive_loss(style: torch.Tensor, bank: torch.Tensor, speaker: torch.Tensor,
                     temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE over the library: each clip's positive is its speaker's row, the other
    rows are negatives. Cosine similarity, so the loss shapes direction, not norm."""
    logits = F.normalize(style, dim=-1) @ F.normalize(bank, dim=-1).T / temperature
    return F.cross_entropy(logits, speaker)


def nearest_identity(style: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Index of the library row closest (cosine) to each style vector."""
    return (F.normalize(style, dim=-1) @ F.normalize(bank, dim=-1).T).argmax(dim=-1)
