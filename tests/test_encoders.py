import numpy as np
import pytest
import torch

from conftest import TINY, speechlike
from diffusiontalker.encoders import MelEncoder, build_encoder, each_alone, log_mel_level, mel_filterbank

TINY_HF = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
               conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def test_mel_filterbank_covers_the_band():
    fb = mel_filterbank(400, 40)
    assert fb.shape == (40, 201) and fb.min() >= 0
    assert (fb.sum(0)[5:190] > 0).all()  # 40 Hz .. 7.6 kHz covered without gaps


@pytest.mark.parametrize("frames", [25, 30, 77])
def test_mel_features_are_aligned_to_frames(frames):
    enc = MelEncoder(d_model=12, n_mels=20, hidden=16)
    out = enc(torch.from_numpy(speechlike(1.0))[None], frames)
    assert out.shape == (1, frames, 12)


@pytest.mark.parametrize("context", [0, 4])
def test_audio_context_widens_what_a_feature_hears(context):
    """A mel frame's feature depends on the mel frames within ±6 (the three k=5 convs),
    ±(6 + context) once the context filter has learnt anything; at zero it changes nothing."""
    torch.manual_seed(0)
    enc = MelEncoder(d_model=12, n_mels=20, hidden=16, context=context)
    mel = torch.randn(1, 20, 40)

    def reach():
        m = mel.clone().requires_grad_(True)
        enc.read(m)[:, :, 20].sum().backward()
        heard = m.grad.abs().sum(1)[0].nonzero()[:, 0]
        return int(20 - heard.min()), int(heard.max() - 20)

    plain = enc.read(mel)
    assert reach() == (6, 6)
    if context:
        torch.nn.init.normal_(enc.context.weight)
        assert reach() == (6 + context, 6 + context)
        torch.nn.init.zeros_(enc.context.weight)
    torch.testing.assert_close(enc.read(mel), plain)


@pytest.mark.parametrize("level", [None, "measured"])
def test_a_fixed_level_hears_speech_the_same_whatever_else_the_clip_holds(level):
    """The same second of speech, alone and followed by two seconds of near-silence (a
    pause, or the end of a clip a training window would not hold): standardised by its own
    statistics the speech's features move; by the data's level they stay, but for the few
    frames whose receptive field reaches the pause."""
    speech = speechlike(1.0)
    padded = np.concatenate([speech, 1e-3 * np.random.default_rng(0).standard_normal(32000).astype(np.float32)])
    if level:
        level = log_mel_level([speech, padded])
        assert level[1] > 0 and level == log_mel_level([speech, padded])  # a measurement, repeatable
    torch.manual_seed(0)
    enc = MelEncoder(d_model=12, n_mels=20, hidden=16, level=level)
    with torch.no_grad():
        alone = enc(torch.from_numpy(speech)[None], 101)[0, :90]
        followed = enc(torch.from_numpy(padded)[None], 301)[0, :90]
    if level:
        torch.testing.assert_close(followed, alone, atol=1e-4, rtol=1e-4)
    else:
        assert (followed - alone).abs().max() > 1e-2


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_pretrained_encoder_from_local_directory(tmp_path, kind):
    """The real loading path: weights saved to a folder, loaded back by path, no network."""
    import transformers

    model_cls, config_cls = {"hubert": (transformers.HubertModel, transformers.HubertConfig),
                             "wav2vec2": (transformers.Wav2Vec2Model, transformers.Wav2Vec2Config)}[kind]
    torch.manual_seed(0)
    reference = model_cls(config_cls(**TINY_HF))
    reference.save_pretrained(tmp_path / kind)

    config = {"kind": kind}
    enc = build_encoder(config, d_model=10, pretrained=str(tmp_path / kind))
    for (name, a), b in zip(reference.state_dict().items(), enc.speech.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert config["hf_config"]["hidden_size"] == 16  # written back for the checkpoint
    wave = torch.from_numpy(speechlike(1.0))[None]
    assert enc(wave, 30).shape == (1, 30, 10)
    # The convolutional feature encoder is frozen, the transformer is trained.
    assert not any(p.requires_grad for p in enc.speech.feature_extractor.parameters())
    assert all(p.requires_grad for p in enc.speech.encoder.parameters())


def test_hubert_checkpoint_round_trip_needs_no_original_folder(tmp_path):
    from diffusiontalker.checkpoint import load_checkpoint, save_checkpoint
    from diffusiontalker.model import TalkerModel

    torch.manual_seed(0)
    model = TalkerModel({**TINY, "encoder": {"kind": "hubert", "hf_config": TINY_HF}}).eval()
    path = save_checkpoint(tmp_path / "hub", model)
    restored, _ = load_checkpoint(path)
    wave = torch.from_numpy(speechlike(0.5))[None]
    torch.testing.assert_close(model.encode_audio(wave, 15), restored.encode_audio(wave, 15))


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown audio encoder"):
        build_encoder({"kind": "whisper"}, 8)
    assert np.isfinite(mel_filterbank(400, 10)).all()


@pytest.mark.parametrize("encoder", [{"kind": "mel", "n_mels": 20, "hidden": 16},
                                     {"kind": "mel", "n_mels": 20, "hidden": 16, "context": 3, "level": [-6.0, 4.0]},
                                     {"kind": "hubert", "hf_config": TINY_HF}])
def test_a_padded_batch_hears_each_clip_as_it_would_alone(encoder):
    """Training pads a batch's windows to the longest; told which frames are real, the
    encoder must give each clip the features generation gives it alone. Unmasked, the
    padding's silence moved a short clip's level and stretched its frames' timing: a
    batch of whole clips (every one padded) then trained on audio read unlike anything
    generation hears. The clips end in 15 ms of silence, so the spectrogram's reflected
    edge is the same silence either way."""
    torch.manual_seed(0)
    enc = build_encoder(dict(encoder), d_model=8).eval()
    short, long = speechlike(1.0), speechlike(1.6, seed=1)
    short[-240:] = 0.0
    long[-240:] = 0.0
    batch = torch.zeros(2, len(long))
    batch[0, :len(short)], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
    mask = torch.zeros(2, 48, dtype=torch.bool)
    mask[0, :30], mask[1] = True, True
    with torch.no_grad():
        together = each_alone(enc, batch, 48, mask)
        torch.testing.assert_close(together[0, :30], enc(torch.from_numpy(short)[None], 30)[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(together[1], enc(torch.from_numpy(long)[None], 48)[0], atol=1e-5, rtol=1e-4)
        assert (enc(batch, 48)[0, :30] - together[0, :30]).abs().max() > 1e-3  # what the mask prevents
