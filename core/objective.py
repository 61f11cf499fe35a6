"""The teacher's training objective as a module, so DistributedDataParallel can wrap it.

DDP synchronises gradients of whatever ``forward`` it wraps; putting the audio
encoding, both losses and the identity lookup in one forward is what lets a single
``backward`` cover the denoiser, the encoder, the library and the personaliser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .diffusion import GaussianDiffusion
from .identity import contrastive_loss


class Objective(nn.Module):
    def __init__(self, model, diffusion: GaussianDiffusion, loss_fn, args):
        super().__init__()
        self.model, self.diffusion, self.loss_fn = model, diffusion, loss_fn
        self.contrastive_weight = args.contrastive_weight
        self.temperature = args.temperature
        self.phoneme_weight = args.phoneme_weight
        self.audio_dropout = args.audio_dropout
        self.unconditional = args.unconditional

    def forward(self, wave, motion, mask, voice, style, phones, heard, generator):
        """``voice``: who speaks (the personaliser's positive); ``style``: whose motion
        ``motion`` is (the identity the denoiser is conditioned on); ``phones``: the
        phoneme heard at each frame, -1 where unknown; ``heard``: the front-end's phones."""
        model = self.model
        deaf = None
        if self.audio_dropout:  # drawn only when asked, so runs without it keep their noise
            deaf = (torch.rand(len(wave), generator=generator) < self.audio_dropout).to(wave.device)
        features = model.encode_audio(wave, motion.shape[1], mask, heard, deaf)
        identity = model.bank(style)
        cond_features, cond_identity = features, identity
        if self.unconditional:  # each condition zeroed on its own: guidance needs x0 without either
            keep = (torch.rand(2, len(wave), generator=generator) >= self.unconditional).to(wave.device)
            cond_features, cond_identity = features * keep[0, :, None, None], identity * keep[1, :, None]
        if model.config["objective"] == "regression":
            zeros = torch.zeros_like(motion)
            t = torch.zeros(len(motion), dtype=torch.long, device=motion.device)
            pred = model.denoise(zeros, t, cond_features, cond_identity, mask)
            losses = self.loss_fn(pred, motion, mask)
        else:
            losses = self.diffusion.training_loss(
                lambda x_t, t: model.denoise(x_t, t, cond_features, cond_identity, mask), motion, mask,
                self.loss_fn, generator)
        heard = model.personalise(model.voice_features(wave, motion.shape[1], features, mask), mask)
        losses["contrastive"] = contrastive_loss(heard, model.bank.embeddings, voice, self.temperature)
        losses["loss"] = losses["loss"] + self.contrastive_weight * losses["contrastive"]
        losses["contrastive"] = losses["contrastive"].detach()
        if self.phoneme_weight:
            logits = model.phoneme_head(features)
            losses["phoneme"] = F.cross_entropy(logits.transpose(1, 2), phones, ignore_index=-1)
            losses["loss"] = losses["loss"] + self.phoneme_weight * losses["phoneme"]
            losses["phoneme"] = losses["phoneme"].detach()
        return losses
