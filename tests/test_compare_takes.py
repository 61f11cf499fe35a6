"""bench/compare_takes.py reads a lead from paired lines: a checkpoint ahead on every
line is ahead with an interval above 0, one that wins and loses by the same amounts is
not told apart, and runs on different lines are refused rather than compared."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "compare_takes.py"


def _module():
    spec = importlib.util.spec_from_file_location("compare_takes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(scores, name="x", lines=None):
    lines = lines or [f"line{i}" for i in range(len(scores))]
    rows = [{"speaker": "s1" if i % 2 else "s2", "line": line, "take": take, "openness_r": float(r)}
            for i, (line, r) in enumerate(zip(lines, scores))
            for take in ("model (audio)", "phone-timed reference")]
    return {"checkpoint": name, "lines": rows}


def test_a_checkpoint_ahead_on_every_line_is_ahead_beyond_chance():
    ct = _module()
    base = np.random.default_rng(1).uniform(0.3, 0.8, 40)
    rows = ct.compare(_run(base), _run(base + 0.05))
    every = [r for r in rows if r["speaker"] == "all"]
    assert [r["take"] for r in every] == ["model (audio)"]  # the references are not compared
    assert abs(every[0]["b_minus_a"] - 0.05) < 1e-9 and every[0]["low"] > 0.04 and every[0]["b_ahead"] == 40


def test_wins_and_losses_that_cancel_are_not_told_apart():
    ct = _module()
    base = np.full(40, 0.6)
    swing = np.where(np.arange(40) % 4 < 2, 0.05, -0.05)
    every = [r for r in ct.compare(_run(base), _run(base + swing)) if r["speaker"] == "all"][0]
    assert every["low"] < 0 < every["high"] and every["b_ahead"] == every["a_ahead"] == 20


def test_runs_on_different_lines_are_refused(tmp_path, capsys):
    ct = _module()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_run([0.5, 0.6, 0.7])))
    b.write_text(json.dumps(_run([0.5, 0.6, 0.7], lines=["p", "q", "r"])))
    assert ct.main([str(a), str(b)]) == 2
    assert "share no line" in capsys.readouterr().err
