"""bench/real_voices.py's held-out voices come from a PyPI source release: its tar is
read from the cache, checked against the table's hash (the texts are only true of that
release), and both its WAV and its headerless .raw recordings must come out as the
same 16 kHz wave. Built here from a synthetic tone; no network."""

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "real_voices.py"


def _module():
    spec = importlib.util.spec_from_file_location("real_voices", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_voices", module)
    spec.loader.exec_module(sys.modules["real_voices"])
    return sys.modules["real_voices"]


def _release(tmp_path, samples):
    """A cached tar.gz holding the tone as a WAV and as raw 16-bit PCM, and its table."""
    wav, raw = io.BytesIO(), (samples * 32767).astype("<i2").tobytes()
    soundfile.write(wav, samples, 16000, format="WAV", subtype="PCM_16")
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        for name, data in (("pkg-1.0/a.wav", wav.getvalue()), ("pkg-1.0/b.raw", raw)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cached = tmp_path / "cache" / "sdists" / "pkg-1.0.tar.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(blob.getvalue())
    table = {"releases": {"pkg": {"url": "https://example.invalid/pkg-1.0.tar.gz",
                                  "sha256": hashlib.sha256(blob.getvalue()).hexdigest()}},
             "sources": [{"release": "pkg", "speaker": "s",
                          "lines": {"pkg-1.0/a.wav": "one", "pkg-1.0/b.raw": "two"}}]}
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    return path, table


def test_both_recordings_of_a_release_read_as_the_same_wave(tmp_path):
    rv = _module()
    samples = (0.3 * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000)).astype(np.float32)
    table_path, _ = _release(tmp_path, samples)
    got = list(rv.lines(tmp_path / "cache", None, table_path))
    assert [(g[0], g[1], g[3]) for g in got] == [("s", "pypi", "one"), ("s", "pypi", "two")]
    assert len(got[0][4]) == len(got[1][4]) == 16000
    np.testing.assert_allclose(got[0][4], got[1][4], atol=1e-4)
    # read as 16-bit samples (load_audio sets the level), not as bytes or noise
    assert np.corrcoef(got[1][4], samples)[0, 1] > 0.99


def test_a_release_that_is_not_the_one_named_is_refused(tmp_path):
    rv = _module()
    table_path, table = _release(tmp_path, np.zeros(1600, np.float32))
    table["releases"]["pkg"]["sha256"] = "0" * 64
    table_path.write_text(json.dumps(table))
    with pytest.raises(SystemExit, match="not the release"):
        list(rv.lines(tmp_path / "cache", None, table_path))
