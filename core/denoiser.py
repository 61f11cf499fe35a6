"""The denoiser: noisy motion + audio + timestep + talking identity -> clean motion.

Design (DiffusionTalker published none; this follows DiffPoseTalk and FaceDiffuser):
- Motion frames are tokens. Audio features are already aligned one-to-one with the
  frames, so they are added to the tokens rather than attended to; this keeps lip
  sync from depending on an attention pattern the model would first have to learn.
- Self-attention over frames uses an ALiBi-style distance bias, so the model prefers
  nearby frames and works on clips longer than any it was trained on.
- The timestep and the identity embedding form one conditioning vector that modulates
  every block through adaptive LayerNorm (scale/shift, as in DiT): style and noise level
  shape all of the motion, not only the first layer.
- Optionally (``clip_summary``) the conditioning vector also carries a summary of the
  whole clip's audio: its mean features and how fast they change. A frame's attention
  sees mostly its neighbours, yet how far the lips travel depends on the speaking pace
  of the clip; this gives every frame that pace at once.
- The model predicts x0 (the clean offsets), as FaceDiffuser and DiffPoseTalk do; the
  output layer starts at zero so an untrained model predicts the neutral face.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .factored import Factored
from .frames import frame_mean


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def alibi_bias(num_frames: int, num_heads: int, device) -> torch.Tensor:
    """(heads, T, T) additive attention bias, -slope * |i - j| with one slope per head."""
    slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / num_heads) for h in range(num_heads)], device=device)
    pos = torch.arange(num_frames, device=device)
    dist = (pos[None, :] - pos[:, None]).abs().float()
    return -slopes[:, None, None] * dist[None]


def clip_summary(audio: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, D) features -> (B, 2D): over each clip's real frames, the mean feature and
    the mean absolute change from one frame to the next (how fast the sounds go by)."""
    pairs = None if mask is None else mask[:, 1:] & mask[:, :-1]
    return torch.cat([frame_mean(audio, mask), frame_mean((audio[:, 1:] - audio[:, :-1]).abs(), pairs)], dim=-1)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.ff = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.modulation = nn.Linear(d_model, 6 * d_model)  # shift/scale/gate for attention and MLP
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, cond: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        s1, g1, b1, s2, g2, b2 = self.modulation(cond).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        q, k, v = self.qkv(h).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + (1 + g1) * self.proj(h.transpose(1, 2).reshape(B, T, D))
        h = self.norm2(x) * (1 + s2) + b2
        return x + (1 + g2) * F.dropout(self.ff(h), self.dropout, self.training)


class Denoiser(nn.Module):
    def __init__(self, num_vertices: int, d_model: int = 128, n_layers: int = 4, n_heads: int = 4,
                 d_identity: int = 64, dropout: float = 0.1, clip_summary: bool = False):
        super().__init__()
        self.d_model, self.n_heads = d_model, n_heads
        self.motion_in = nn.Linear(num_vertices * 3, d_model)
        self.time_mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        self.identity_in = nn.Linear(d_identity, d_model)
        if clip_summary:  # starts at zero, so growing it onto a trained model changes nothing yet
            self.summary_in = nn.Linear(2 * d_model, d_model)
            nn.init.zeros_(self.summary_in.weight)
            nn.init.zeros_(self.summary_in.bias)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm_out = nn.LayerNorm(d_model)
        self.motion_out = nn.Linear(d_model, num_vertices * 3)
        nn.init.zeros_(self.motion_out.weight)
        nn.init.zeros_(self.motion_out.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, identity: torch.Tensor,
                mask: torch.Tensor | None = None, guidance: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
        """x_t (B, T, V*3), t (B,), audio (B, T, d_model), identity (B, d_identity) or per
        frame (B, T, d_identity) for styles that change over the clip, mask (B, T) True on
        real frames -> x0 estimate (B, T, V*3). A ``Factored`` x_t (sampling) gives a
        ``Factored`` estimate: the motion is only ever read and written by linear layers.

        ``guidance`` (audio, style): classifier-free guidance scales, for a model trained
        with its conditions sometimes zeroed (``train --unconditional``); 1 is none. Each
        scale carries the estimate past the conditional one, away from the estimate without
        that condition: x0 + (s_a - 1)(x0 - x0[no audio]) + (s_s - 1)(x0 - x0[no style]), as
        DiffPoseTalk guides on audio and style. Combined on the last hidden state: the
        weights sum to one and ``motion_out`` is affine, so that is the same estimate, and
        a factored chain stays factored."""
        h_in = x_t.read(self.motion_in) if isinstance(x_t, Factored) else self.motion_in(x_t)
        h = self._hidden(h_in, t, audio, identity, mask)
        audio_scale, style_scale = guidance
        guided = h
        if audio_scale != 1.0:
            guided = guided + (audio_scale - 1.0) * (h - self._hidden(h_in, t, torch.zeros_like(audio), identity, mask))
        if style_scale != 1.0:
            guided = guided + (style_scale - 1.0) * (h - self._hidden(h_in, t, audio, torch.zeros_like(identity), mask))
        return x_t.written(guided, self.motion_out) if isinstance(x_t, Factored) else self.motion_out(guided)

    def _hidden(self, h: torch.Tensor, t, audio, identity, mask) -> torch.Tensor:
        B, T, _ = h.shape
        if identity.dim() == 2:
            identity = identity[:, None]
        cond = self.time_mlp(timestep_embedding(t, self.d_model))[:, None] + self.identity_in(identity)
        if hasattr(self, "summary_in"):
            cond = cond + self.summary_in(clip_summary(audio, mask))[:, None]
        bias = alibi_bias(T, self.n_heads, audio.device)[None].expand(B, -1, -1, -1)
        if mask is not None:  # padded frames are never attended to
            bias = bias.masked_fill(~mask[:, None, None, :], float("-inf"))
        h = h + audio
        for block in self.blocks:
            h = block(h, cond, bias)
        return self.norm_out(h)
