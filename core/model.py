"""The whole network, assembled from one JSON-able config.

A checkpoint stores this config next to its tensors, so ``TalkerModel(config)``
followed by ``load_state_dict`` restores a model without any code from the file.
Motion is handled in units of ``motion_scale`` metres: FLAME offsets are millimetres
in size, and diffusion needs data on the scale of its unit-variance noise.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .denoiser import Denoiser
from .encoders import PhoneReader, build_encoder, each_alone
from .errors import DiffusionTalkerError
from .identity import IdentityBank, Personaliser
from .phonetics import CHANNELS, PHONES

DEFAULT_CONFIG = {
    "num_vertices": 5023,
    "fps": 30.0,
    "motion_scale": 0.002,  # metres per model unit; set from the data by training
    "d_model": 128,
    "n_layers": 4,
    "n_heads": 4,
    "d_identity": 64,
    "dropout": 0.1,
    "encoder": {"kind": "mel"},
    "identities": ["default"],
    "diffusion_steps": 500,
    "sampling_steps": 500,  # the sampler a checkpoint is meant for: T for a teacher, N for a student
    "distilled": False,
    "objective": "diffusion",  # or "regression": the deterministic baseline (no noise input)
    "phonemes": [],  # labels of the training-only phoneme head; none, no head
    "clip_summary": False,  # condition on the clip's pooled audio (denoiser.clip_summary)
    "phonetic": None,  # the front-end's phones: None, "fuse" (beside the audio encoder) or "replace" (alone)
    "phone_trust": False,  # the reader is told whether its phones were aligned to what is said or recognised
    "unconditional": False,  # trained with audio and style sometimes zeroed, so it can be guided (denoiser.forward)
}
PHONETIC = (None, "fuse", "replace")
# Beside an audio encoder the phones only add to what it hears; alone they carry all of
# it, so that reader is wider and sees further (3 k=9 convs: about ±400 ms at 30 fps).
READER_SIZE = {"fuse": {"hidden": 128, "layers": 2}, "replace": {"hidden": 256, "layers": 3}}


def make_config(**overrides) -> dict:
    config = copy.deepcopy(DEFAULT_CONFIG)
    unknown = set(overrides) - set(config)
    if unknown:
        raise ValueError(f"unknown model config keys: {sorted(unknown)}")
    config.update(copy.deepcopy(overrides))
    if config["phonetic"] not in PHONETIC:
        raise ValueError(f"phonetic must be one of {PHONETIC}, got {config['phonetic']!r}")
    return config


class TalkerModel(nn.Module):
    def __init__(self, config: dict, pretrained_encoder: str | None = None):
        super().__init__()
        self.config = make_config(**config)
        c = self.config
        # in "replace" the audio encoder only tells the personaliser whose voice it is (voice_features)
        self.encoder = build_encoder(c["encoder"], c["d_model"], pretrained_encoder)
        if c["phonetic"]:
            self.phone_reader = PhoneReader(len(PHONES), c["d_model"], **READER_SIZE[c["phonetic"]],
                                            trust=c["phone_trust"])
        self.denoiser = Denoiser(c["num_vertices"], c["d_model"], c["n_layers"], c["n_heads"],
                                 c["d_identity"], c["dropout"], c["clip_summary"])
        self.bank = IdentityBank(c["identities"], c["d_identity"])
        self.personaliser = Personaliser(c["d_model"], c["d_identity"], n_heads=c["n_heads"])
        if c["phonemes"]:
            # HuBERT and wav2vec2 arrive knowing speech sounds from a thousand hours of it; a mel
            # encoder trained from scratch learns only what the motion loss teaches it. Where the
            # data has phoneme timings, naming the phoneme heard at each frame from the encoder's
            # features teaches it to read the audio directly (train.py --phoneme-weight).
            self.phoneme_head = nn.Linear(c["d_model"], len(c["phonemes"]))

    @property
    def num_vertices(self) -> int:
        return self.config["num_vertices"]

    @property
    def reads_phones(self) -> bool:
        return bool(self.config["phonetic"])

    def encode_audio(self, wave: torch.Tensor, num_frames: int, mask: torch.Tensor | None = None,
                     heard: torch.Tensor | None = None, deaf: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` (B, T), True on real frames, for a padded batch: each clip is then heard as
        alone. ``heard`` (B, T, phonetics.CHANNELS): the front-end's phones (``phonetics.features``),
        for a model that reads them.
        ``deaf`` (B,) bool: inputs whose audio encoder is silenced, so only their phones speak
        (``train --audio-dropout``)."""
        if self.reads_phones and heard is None:
            raise DiffusionTalkerError("this model reads the phonetic front-end's phones; none were given")
        if self.reads_phones and heard.shape[-1] != CHANNELS:
            raise DiffusionTalkerError(f"the front-end's phones have {heard.shape[-1]} columns, this model reads "
                                       f"{CHANNELS} (phonetics.features)")
        features = None
        if self.config["phonetic"] != "replace":
            features = self._heard_by_encoder(wave, num_frames, mask)
        if deaf is not None and features is not None:
            features = features * (~deaf)[:, None, None]
        if self.reads_phones:
            phones = self.phone_reader(heard[:, :num_frames], mask)
            features = phones if features is None else features + phones
        return features

    def _heard_by_encoder(self, wave, num_frames, mask):
        return (self.encoder(wave, num_frames) if mask is None
                else each_alone(self.encoder, wave, num_frames, mask))

    def voice_features(self, wave: torch.Tensor, num_frames: int, features: torch.Tensor,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
        """What the personaliser hears, given ``encode_audio``'s ``features`` of the same
        input: those, except in a ``replace`` model, whose phones say what is said and
        nothing of who says it; there its audio encoder's, so ``style="auto"`` still finds
        the style from the voice."""
        if self.config["phonetic"] != "replace":
            return features
        return self._heard_by_encoder(wave, num_frames, mask)

    def guidance(self, guidance=None) -> tuple[float, float]:
        """``guidance`` checked as (audio, style) scales this model can sample at: none (1, 1)
        unless given. Only a model trained with its conditions sometimes zeroed can be
        guided; a student distilled from a guided teacher has it built in and samples plainly."""
        if guidance is None:
            return (1.0, 1.0)
        try:
            scales = tuple(float(g) for g in guidance)
        except (TypeError, ValueError):
            scales = ()
        if len(scales) != 2 or not all(0.0 <= g <= 10.0 for g in scales):
            raise DiffusionTalkerError(f"guidance is two scales (audio, style) between 0 and 10, got {guidance!r}")
        if scales != (1.0, 1.0) and not self.config["unconditional"]:
            raise DiffusionTalkerError("this checkpoint was not trained to be guided (train --unconditional); "
                                       "leave guidance at 1" + ("; a student is guided when it is distilled "
                                                                "(distill --guidance)" if self.config["distilled"]
                                                                else ""))
        return scales

    def denoise(self, x_t, t, audio_features, identity, mask=None, guidance=(1.0, 1.0)):
        return self.denoiser(x_t, t, audio_features, identity, mask, tuple(guidance))

    def personalise(self, audio_features, mask=None) -> torch.Tensor:
        """Style vector of a clip from its ``voice_features``; its contrastive gradient also
        reaches the audio encoder, so speaker cues (pitch, rate, timbre) survive in the
        shared features."""
        return self.personaliser(audio_features, mask)

    def reconfigured(self, config: dict) -> "TalkerModel":
        """A model of ``config`` holding these weights: a fine-tune's grown parts (an audio
        context filter, a phoneme head, a clip summary) keep their fresh initialisation; a student that
        reads audio at another level keeps every weight. New identities start afresh: another
        dataset's speakers share nothing with these but the network that renders a style."""
        model = TalkerModel(config)
        own = model.state_dict()
        kept = {k: v for k, v in self.state_dict().items() if k in own and own[k].shape == v.shape
                and not (k.startswith("bank.") and config["identities"] != self.config["identities"])}
        model.load_state_dict(own | kept)
        return model
