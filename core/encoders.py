"""Audio encoders: waveform in, one feature vector per animation frame out.

All encoders share one contract, ``forward(wave (B, N), num_frames) -> (B, T, d_model)``,
so the denoiser never knows which one it got; ``each_alone`` wraps any of them for a
padded training batch, so a batch hears each clip exactly as generation does, whatever
clips it was padded next to. Features are linearly interpolated from
the encoder's own rate (100 Hz mel, 50 Hz HuBERT/wav2vec2) to the animation rate, as
FaceFormer and FaceDiffuser do, which lets one checkpoint serve 25 and 30 fps data.

``PhoneReader`` is the second stream: the phonetic front-end's phones (phonetics.py),
read beside any of the three (``phonetic: "fuse"``) or alone (``"replace"``).

``mel`` is the default because our machines cannot download pretrained speech
models; ``hubert`` and ``wav2vec2`` load weights from a local directory the user names
(or a hub id on machines that can reach one) and are built from a config dict when a
checkpoint restores them, so loading a checkpoint never touches the network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .audio import SAMPLE_RATE


def align(features: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, N, C) at the encoder's rate -> (B, num_frames, C) at the animation rate."""
    return F.interpolate(features.transpose(1, 2), size=num_frames, mode="linear",
                         align_corners=True).transpose(1, 2)


def each_alone(encoder: nn.Module, wave: torch.Tensor, num_frames: int, mask: torch.Tensor) -> torch.Tensor:
    """``encoder``'s features of each input over its real audio alone, zero on padded frames;
    ``mask`` (B, T) is True on real frames.

    Batched, every layer would take the padding in: the log-mel's standardisation (its
    silence lowers a short clip's level), each conv's edge, a transformer's attention,
    and the frame alignment, which would spread a clip's audio over the padded length.
    Padded windows are cut at the frame rate, so a wave's real share is its frames'."""
    if mask.all():
        return encoder(wave, num_frames)
    features = []
    for b, frames in enumerate(mask.sum(dim=1).tolist()):
        real = round(wave.shape[1] * frames / num_frames)
        features.append(F.pad(encoder(wave[b:b + 1, :real], frames), (0, 0, 0, num_frames - frames)))
    return torch.cat(features)


def mel_filterbank(n_fft: int, n_mels: int, fmin: float = 40.0, fmax: float = 7600.0) -> np.ndarray:
    """Triangular HTK-mel filters, (n_mels, n_fft // 2 + 1)."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


class MelEncoder(nn.Module):
    """Log-mel spectrogram (25 ms windows, 10 ms hop) and a small 1-D conv stack.

    Trained from scratch with the rest of the model. Three k=5 convs on the 100 Hz grid
    see ±6 mel frames (about ±70 ms with the 25 ms window), less than the mouth's
    anticipation: lips start moving for a sound up to a quarter of a second before it
    is heard, at a phrase onset most of all. ``context`` (mel frames) adds a per-channel
    filter of ±context frames, so each feature can announce what is coming; it starts
    at zero, so a trained encoder grown with it (``train --init --audio-context-ms``)
    begins exactly where it was.

    The log-mel is standardised before the convs: by default each input by its own mean
    and spread, so a frame's features depend on the rest of the input (a 3 s training
    window and a whole clip, or a clip with more pauses, read the same sound at
    different levels). ``level`` (the training data's log-mel mean and spread, from
    ``log_mel_level``) standardises every input by the same numbers instead. Trained
    that way the demo's recipe read the lips better and the style worse
    (docs/results.md), so per input stays the default.
    """

    n_fft, hop = 400, 160  # 25 ms windows, 10 ms hop at 16 kHz
    ms_per_frame = 1000 * hop / SAMPLE_RATE  # what --audio-context-ms is counted in

    def __init__(self, d_model: int, n_mels: int = 80, hidden: int = 256, context: int = 0,
                 level: tuple[float, float] | None = None):
        super().__init__()
        self.level = level
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer("fbank", torch.from_numpy(mel_filterbank(self.n_fft, n_mels)), persistent=False)
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, hidden, 5, padding=2), nn.GELU(),
            nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(),
            nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(),
        )
        self.context = None
        if context:
            self.context = nn.Conv1d(hidden, hidden, 2 * context + 1, padding=context, groups=hidden)
            nn.init.zeros_(self.context.weight)
            nn.init.zeros_(self.context.bias)
        self.out = nn.Linear(hidden, d_model)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        mel = torch.einsum("mf,bft->bmt", self.fbank, spec)
        return torch.log(mel + 1e-6)

    def read(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, N) standardised log-mel -> (B, hidden, N) at the mel rate."""
        hidden = self.convs(mel)
        return hidden if self.context is None else hidden + self.context(hidden)

    def forward(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        mel = self.log_mel(wave)
        if self.level is None:
            mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / (mel.std(dim=(1, 2), keepdim=True) + 1e-5)
        else:
            mel = (mel - self.level[0]) / self.level[1]
        return self.out(align(self.read(mel).transpose(1, 2), num_frames))


def log_mel_level(waves) -> list[float]:
    """[mean, std] of the log-mel over every frame of ``waves`` (16 kHz arrays, normalised
    like inference audio): the ``level`` a mel encoder trained on them standardises by."""
    measure = MelEncoder(d_model=1)
    with torch.no_grad():
        values = torch.cat([measure.log_mel(torch.from_numpy(np.asarray(w, np.float32))[None]).reshape(-1)
                            for w in waves])
    return [float(values.mean()), float(values.std())]


class PhoneReader(nn.Module):
    """Per-frame phone shares and whether they were aligned (``phonetics.features``,
    already at the animation rate) -> (B, T, d_model).

    The mel encoder trained on espeak-ng hears espeak's timbre; PocketSphinx's acoustic
    model learned real voices, so its phones carry what the lips follow across voices.
    Two k=9 convs see ±8 frames (about ±270 ms at 30 fps): lips round and the jaw opens
    for a sound before it is heard (``model.READER_SIZE``: three when they replace the
    audio encoder). The last layer starts at zero, so a mel model grown with the reader
    (``train --init --phonetic fuse``) begins exactly where it was and leans on the
    phones only as far as they help. In a padded batch the hidden layers are zeroed past
    each clip's end, as the next conv's own zero padding is when the clip is alone, so a
    batch hears each clip as generation does.

    ``trust``: aligned phones (a transcript) are nearly all right, recognised ones often
    wrong, and a reader that cannot tell them apart must hedge on both; with it, a
    learned vector is added where the phones are aligned (zero at first, so a model
    grown with it begins where it was). Without it that column is ignored."""

    def __init__(self, n_phones: int, d_model: int, hidden: int = 128, layers: int = 2, trust: bool = False):
        super().__init__()
        self.n_phones = n_phones
        self.aligned = nn.Parameter(torch.zeros(d_model)) if trust else None
        stack = [nn.Conv1d(n_phones, hidden, 9, padding=4)]
        for _ in range(layers - 2):
            stack += [nn.GELU(), nn.Conv1d(hidden, hidden, 9, padding=4)]
        self.convs = nn.Sequential(*stack, nn.GELU(), nn.Conv1d(hidden, d_model, 9, padding=4))
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, heard: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``heard`` (B, T, n_phones + 1); ``mask`` (B, T): True on real frames."""
        x = heard[..., :self.n_phones].transpose(1, 2)
        for layer in self.convs:
            if isinstance(layer, nn.GELU) and mask is not None:
                x = x * mask[:, None, :x.shape[2]]  # before the activation: GELU(0) = 0 as the padding is
            x = layer(x)
        x = x.transpose(1, 2)
        return x if self.aligned is None else x + heard[..., self.n_phones:] * self.aligned


_HF_CLASSES = {"hubert": ("HubertModel", "HubertConfig"), "wav2vec2": ("Wav2Vec2Model", "Wav2Vec2Config")}


class PretrainedSpeechEncoder(nn.Module):
    """HuBERT or wav2vec2 through transformers, plus a projection to ``d_model``.

    As in FaceDiffuser, the convolutional feature encoder stays frozen (it is generic
    acoustics and the datasets are small); the transformer layers are fine-tuned.
    """

    def __init__(self, kind: str, d_model: int, hf_config: dict, pretrained: str | None = None):
        super().__init__()
        import transformers

        model_cls, config_cls = (getattr(transformers, n) for n in _HF_CLASSES[kind])
        if pretrained is not None:
            from pathlib import Path

            from .errors import DiffusionTalkerError

            if Path(pretrained).exists() and not (Path(pretrained) / "config.json").is_file():
                raise DiffusionTalkerError(f"--pretrained-encoder {pretrained}: not a folder holding a {kind} "
                                           "model's config.json and weights")
            try:
                self.speech = model_cls.from_pretrained(pretrained)
            except (OSError, ValueError) as exc:  # unreadable weights; or no such folder, and no hub or id
                first = str(exc).strip().splitlines()[0]
                where = ("its weights could not be read" if Path(pretrained).exists() else
                         "no local folder of that name, and it could not be fetched as a hub id")
                raise DiffusionTalkerError(f"--pretrained-encoder {pretrained}: {where} ({first})") from None
        else:
            self.speech = model_cls(config_cls(**hf_config))
        self.speech.feature_extractor._freeze_parameters()
        self.hf_config = self.speech.config.to_diff_dict()
        self.out = nn.Linear(self.speech.config.hidden_size, d_model)

    def forward(self, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
        wave = (wave - wave.mean(dim=1, keepdim=True)) / (wave.std(dim=1, keepdim=True) + 1e-7)
        hidden = self.speech(wave).last_hidden_state
        return self.out(align(hidden, num_frames))


def build_encoder(config: dict, d_model: int, pretrained: str | None = None) -> nn.Module:
    """Build from a checkpoint's ``encoder`` config; ``pretrained`` only when training starts.

    For hub encoders the (possibly updated) transformers config is written back into
    ``config`` so the checkpoint can rebuild the same network without the weights'
    original folder.
    """
    kind = config.get("kind", "mel")
    if kind == "mel":
        return MelEncoder(d_model, n_mels=config.get("n_mels", 80), hidden=config.get("hidden", 256),
                          context=config.get("context", 0), level=config.get("level"))
    if kind in _HF_CLASSES:
        encoder = PretrainedSpeechEncoder(kind, d_model, config.get("hf_config", {}), pretrained)
        config["hf_config"] = encoder.hf_config
        return encoder
    raise ValueError(f"unknown audio encoder {kind!r}; choose mel, hubert or wav2vec2")

