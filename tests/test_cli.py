import shutil
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import speechlike
from diffusiontalker.cli import main
from diffusiontalker.mesh import read_mesh, write_obj


@pytest.fixture
def speech(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, speechlike(1.0, 22050), 22050)
    return path


@pytest.fixture
def tiny_template(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "head.obj"
    write_obj(path, rng.standard_normal((40, 3)).astype(np.float32), [[0, 1, 2], [2, 3, 4]])
    return path


def test_generate_npz_contract(tmp_path, speech, tiny_checkpoint, tiny_template):
    out = tmp_path / "take.npz"
    assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--style", "ben", "--seed", "5", "--variation", "0.5", "--template", str(tiny_template),
                 "--quiet"]) == 0
    data = np.load(out)
    assert data["offsets"].shape == (30, 40, 3) and data["offsets"].dtype == np.float32
    template = read_mesh(tiny_template).vertices
    np.testing.assert_allclose(data["vertices"], template[None] + data["offsets"], atol=1e-6)
    assert float(data["fps"]) == 30.0 and str(data["style"]) == "ben"
    assert int(data["seed"]) == 5 and int(data["steps"]) == 8 and float(data["variation"]) == 0.5
    assert str(data["checkpoint"]).startswith("tiny.safetensors sha256:")


def test_generate_obj_sequence_at_another_fps(tmp_path, speech, tiny_checkpoint, tiny_template):
    out = tmp_path / "frames"
    assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--format", "obj", "--template", str(tiny_template), "--fps", "24", "--quiet"]) == 0
    assert len(list(out.glob("*.obj"))) == 24
    (out / "notes.obj").write_text("the user's own")
    assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--format", "obj", "--template", str(tiny_template), "--fps", "12", "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.obj"))[-2:] == ["frame_00011.obj", "notes.obj"]  # no frame left over
    assert len(list(out.glob("frame_*.obj"))) == 12


@pytest.mark.parametrize("extra, message", [
    (["--style", "zed"], "unknown talking style 'zed'"),
    (["--format", "obj"], "needs --template"),
    (["--steps", "40"], "steps must be between 1 and 32"),
])
def test_bad_options_give_one_line(tmp_path, speech, tiny_checkpoint, capsys, extra, message):
    out = tmp_path / "x.npz"
    code = main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--quiet"] + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_refused_before_generating(tmp_path, speech, tiny_checkpoint, tiny_template,
                                                                       capsys):
    (tmp_path / "file.txt").write_text("x")
    base = ["generate", str(speech), "--checkpoint", str(tiny_checkpoint), "--quiet"]
    assert main([*base, "-o", str(tmp_path / "file.txt" / "x.npz")]) == 2
    assert "file.txt is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "take.npz").mkdir()
    assert main([*base, "-o", str(tmp_path / "take.npz")]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    # a folder the system will not make (even for root): one line naming it, no traceback, nothing written
    assert main([*base, "-o", "/proc/no-such-folder/take.npz"]) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: " in err[0] and "/proc/no-such-folder" in err[0]
    assert main([*base, "-o", str(tmp_path / "new" / "take")]) == 0  # numpy's .npz suffix, added
    assert (tmp_path / "new" / "take.npz").is_file()
    assert main([*base, "-o", str(tmp_path / "frames.npz"), "--format", "obj", "--template", str(tiny_template)]) == 2
    assert "writes a folder of frames" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "b.npz"), "--blend", "0.3"]) == 0
    assert "warning: --blend without --blend-with changes nothing" in capsys.readouterr().err


def test_a_failed_write_leaves_the_earlier_take_whole(tmp_path, speech, tiny_checkpoint, tiny_template, capsys,
                                                     monkeypatch):
    """A full disk (or Ctrl-C) while writing: one line naming the file, the earlier take
    and frames as they were, no half-written file or hidden folder left behind."""
    take, frames = tmp_path / "take.npz", tmp_path / "frames"
    base = ["--checkpoint", str(tiny_checkpoint), "--template", str(tiny_template), "--quiet"]
    assert main(["generate", str(speech), "-o", str(take), *base]) == 0
    assert main(["generate", str(speech), "-o", str(frames), "--format", "obj", *base]) == 0
    before = {p: p.read_bytes() for p in [take, *frames.iterdir()]}
    real_savez, real_write_obj = np.savez, __import__("diffusiontalker.mesh").mesh.write_obj

    def full_disk_savez(fh, **arrays):
        fh.write(b"PK half a take")
        raise OSError(28, "No space left on device")

    def full_disk_write_obj(path, vertices, faces):
        if path.name.endswith("00003.obj"):
            raise OSError(28, "No space left on device")
        real_write_obj(path, vertices, faces)

    monkeypatch.setattr(np, "savez", full_disk_savez)
    monkeypatch.setattr("diffusiontalker.mesh.write_obj", full_disk_write_obj)
    assert main(["generate", str(speech), "-o", str(take), "--seed", "3", *base]) == 2
    assert main(["generate", str(speech), "-o", str(frames), "--format", "obj", "--seed", "3", *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("No space left on device" in line and "unchanged" in line for line in err)
    assert str(take) in err[0] and str(frames) in err[1]
    assert {p: p.read_bytes() for p in [take, *frames.iterdir()]} == before
    assert not [p.name for folder in (tmp_path, frames) for p in folder.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(np, "savez", real_savez)
    assert main(["generate", str(speech), "-o", str(tmp_path / "folder") + "/", *base]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_wrong_template_vertex_count(tmp_path, speech, tiny_checkpoint):
    bad = tmp_path / "bad.obj"
    write_obj(bad, np.zeros((7, 3), np.float32), [[0, 1, 2]])
    assert main(["generate", str(speech), "-o", str(tmp_path / "x.npz"), "--checkpoint",
                 str(tiny_checkpoint), "--template", str(bad), "--quiet"]) == 2


def test_unreadable_audio_and_missing_checkpoint(tmp_path, speech, capsys):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....nonsense")
    assert main(["generate", str(junk), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err  # progress on: still only the message, no empty progress bar
    assert "not a readable audio file" in err and "denoising" not in err and len(err.strip().splitlines()) == 1
    assert main(["generate", str(speech), "-o", str(tmp_path / "x.npz"), "--checkpoint",
                 str(tmp_path / "none.json")]) == 2
    assert "checkpoint card not found" in capsys.readouterr().err


def test_list_styles_needs_no_audio_but_generating_does(tiny_checkpoint, tmp_path, capsys):
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--list-styles"]) == 0
    assert capsys.readouterr().out.split() == ["0", "anna", "1", "ben", "2", "cleo"]
    assert main(["generate", "-o", str(tmp_path / "x.npz"), "--checkpoint", str(tiny_checkpoint)]) == 2
    assert "needs a speech recording and -o OUTPUT" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_console_script_help_runs():
    result = subprocess.run([sys.executable, "-m", "diffusiontalker.cli", "generate", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--style" in result.stdout and "examples:" in result.stdout


def test_bundled_checkpoint_with_flame(tmp_path, flame_dir):
    """The README's first command, in-process: bundled example audio and checkpoint."""
    from diffusiontalker.checkpoint import BUNDLED

    out = tmp_path / "demo.npz"
    example = BUNDLED.parent / "example.wav"
    assert main(["generate", str(example), "-o", str(out), "--template",
                 str(flame_dir / "FLAME_sample.ply"), "--quiet"]) == 0
    data = np.load(out)
    assert data["offsets"].shape[1:] == (5023, 3) and data["vertices"].shape == data["offsets"].shape


def test_blend_and_key_pose_options(tmp_path, speech, tiny_checkpoint, tiny_template):
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.generate import blend_weights

    np.testing.assert_allclose(blend_weights("0:0,0.1:1", 30.0), [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    assert blend_weights("0.25", 30.0) == 0.25
    for keys, last in (("0:1,0.04:0", 0.0), ("0:0,2.01:1", 1.0), ("0:0,1.99:1", 1.0)):  # keys between frames
        assert blend_weights(keys, 30.0)[-1] == last  # the last key's weight is reached, then held
    for bad in ("1.5", "-0.1", "nan", "0:0,2:1.2"):
        with pytest.raises(DiffusionTalkerError, match="within 0-1"):
            blend_weights(bad, 30.0)
    pose = tmp_path / "pose.obj"
    template = read_mesh(tiny_template)
    write_obj(pose, template.vertices + 0.002, template.faces)
    out = tmp_path / "k.npz"
    assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--quiet",
                 "--template", str(tiny_template), "--key-pose", f"0.5={pose}", "--blend-with", "cleo",
                 "--blend", "0:0,1:1"]) == 0
    np.testing.assert_allclose(np.load(out)["offsets"][15], 0.002, atol=1e-6)
    assert str(np.load(out)["blend_with"]) == "cleo" and str(np.load(out)["blend"]) == "0:0,1:1"
    for given in ("2", "auto"):  # an index, or the style found from the voice: the name it was is recorded
        assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--quiet",
                     "--blend-with", given]) == 0
        assert str(np.load(out)["blend_with"]) in ("anna", "ben", "cleo")
    assert main(["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--quiet",
                 "--template", str(tiny_template), "--key-pose", "soon"]) == 2


def test_deformation_transfer_option(tmp_path, speech, tiny_checkpoint, tiny_template):
    out = tmp_path / "d.npz"
    args = ["generate", str(speech), "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--quiet",
            "--template", str(tiny_template), "--transfer", "deformation"]
    assert main(args) == 2  # no source neutral
    assert main(args + ["--source-neutral", str(tiny_template)]) == 0
    plain = tmp_path / "p.npz"
    assert main(args[:-2] + ["-o", str(plain)]) == 0
    # Transfer onto the same head it came from changes nothing.
    np.testing.assert_allclose(np.load(out)["offsets"], np.load(plain)["offsets"], atol=1e-6)


@pytest.mark.parametrize("argv, option", [
    (["train", "--data", "d", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (["train", "--data", "d", "--out", "o", "--lr", "nan"], "--lr"),
    (["train", "--data", "d", "--out", "o", "--ema", "2"], "--ema"),
    (["train", "--data", "d", "--out", "o", "--lip-weight", "-4"], "--lip-weight"),
    (["distill", "--teacher", "t", "--data", "d", "--out", "o", "--iterations", "-1"], "--iterations"),
    (["evaluate", "--checkpoint", "c", "--data", "d", "--max-clips", "0"], "--max-clips"),
    (["generate", "a.wav", "-o", "x.npz", "--fps", "inf"], "--fps"),
    (["generate", "a.wav", "-o", "x.npz", "--seed", "99999999999999999999"], "--seed"),
    (["generate", "a.wav", "-o", "x.npz", "--seed", "9" * 400], "--seed"),  # too large even to be a float
    (["generate", "a.wav", "-o", "x.npz", "--variation", "1.2"], "--variation"),
    (["data", "synth", "--out", "o", "--workers", "-1"], "--workers"),
])
def test_impossible_numbers_are_refused_before_any_work(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"argument {option}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.strip().endswith("--help)")  # no usage block before it


def test_a_missing_gpu_is_warned_about_once_and_the_reason_named(tmp_path, capsys, monkeypatch):
    import torch


    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    wav = Path(__file__).resolve().parents[1] / "core" / "assets" / "example.wav"
    assert main(["generate", str(wav), "-o", str(tmp_path / "take.npz"), "--device", "cuda", "--steps", "2"]) == 0
    err = capsys.readouterr().err
    assert err.count("CUDA is not available") == 1 and "is a CPU-only build" in err
    monkeypatch.setattr(torch.version, "cuda", "12.8")  # a CUDA build on a machine without the GPU
    from diffusiontalker.device import resolve_device

    assert resolve_device("cuda") == ("cpu", [f"CUDA is not available: torch {torch.__version__} (built for "
                                              "CUDA 12.8) finds no NVIDIA GPU or driver; using the CPU"])


def test_ctrl_c_stops_the_front_end_at_once_rather_than_waiting_for_it(tmp_path, speech, capsys, monkeypatch):
    """The front-end works on a thread while the model loads (where it cannot fork:
    hearing.py); interrupted there, the process used to wait for it to hear the whole
    recording before it could exit (16 s on 2 minutes)."""
    import threading

    from diffusiontalker import hearing, phonetics
    from diffusiontalker.pipeline import Generator

    told = threading.Event()

    def slowly(wave, transcript=None, warn=None, cancel=None, progress=None):
        if cancel.wait(30):  # a long recording: it ends early only when stopped
            told.set()
        return []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(phonetics, "timed", slowly)
    monkeypatch.setattr(hearing, "forks", lambda: False)
    monkeypatch.setattr(Generator, "load", interrupted)
    # the bundled demo reads phones, so the front-end starts
    assert main(["generate", str(speech), "-o", str(tmp_path / "take.npz"), "--quiet"]) == 130
    assert told.wait(5) and "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "take.npz").exists()


@pytest.mark.parametrize("bad, message", [
    (["--style", "zed"], "unknown talking style 'zed'"),
    (["--blend-with", "zed"], "unknown talking style 'zed'"),
    (["--steps", "999"], "steps must be between 1 and 512"),
    (["--template", "nowhere.obj"], "nowhere.obj"),
])
def test_options_are_checked_while_the_front_end_works_not_after_it(tmp_path, speech, capsys, monkeypatch, bad,
                                                                    message):
    """A typo is one line at once, and the front-end is stopped, not waited for."""
    import threading

    from diffusiontalker import hearing, phonetics

    stopped = threading.Event()

    def slowly(wave, transcript=None, warn=None, cancel=None, progress=None):
        if cancel.wait(30):  # a long recording: it ends early only when stopped
            stopped.set()
        return []

    monkeypatch.setattr(phonetics, "timed", slowly)
    monkeypatch.setattr(hearing, "forks", lambda: False)  # a thread, as on Windows and macOS
    monkeypatch.chdir(tmp_path)
    assert main(["generate", str(speech), "-o", "take.npz", "--quiet", *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert stopped.is_set() and not (tmp_path / "take.npz").exists()


def _generate_process(args, tmp_path, thread=False):
    """``diffusiontalker generate`` in a fresh process, where the front-end forks on Linux;
    ``thread``: torch imported first, so it works on a thread as on Windows and macOS."""
    import signal

    # the harness's own import says when it is done, so a test's Ctrl-C on a busy machine lands in the command
    first = "import sys, torch; print('torch', flush=True); " if thread else ""
    # Ctrl-C as a terminal gives it: a test run started in the background (``pytest &``,
    # which a shell starts with SIGINT ignored) would pass the ignoring on to the command
    return subprocess.Popen([sys.executable, "-c", f"{first}from diffusiontalker.cli import run; run()", "generate",
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _still_hearing(path, grace: float = 0.0) -> list[int]:
    """Processes running with ``path`` on their command line (a front-end's child has its
    parent's), once any have had ``grace`` seconds to end."""
    import time

    ends = time.monotonic() + grace
    while True:
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if str(path).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:  # it ended meanwhile
                pass
        if not found or time.monotonic() > ends:
            return found
        time.sleep(0.1)


def test_the_command_leaves_without_teardown_but_with_its_output_and_exit_code(tmp_path, speech):
    """The installed command skips Python's half-second teardown of torch: what it printed
    to a pipe must still arrive whole, and its exit status must be its own."""
    import os

    from diffusiontalker.card import BUNDLED, read_card

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a pipeline runs it
    listed = subprocess.run([sys.executable, "-c", "from diffusiontalker.cli import run; run()", "generate",
                             "--list-styles"], capture_output=True, text=True, cwd=tmp_path, env=buffered)
    names = read_card(BUNDLED)["config"]["identities"]
    assert listed.returncode == 0 and listed.stdout.splitlines() == [f"{i}\t{n}" for i, n in enumerate(names)]
    refused = subprocess.run([sys.executable, "-c", "from diffusiontalker.cli import run; run()", "generate",
                              str(speech), "-o", "take.npz", "--steps", "999", "--quiet"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2 and "steps must be between 1 and 512" in refused.stderr


@pytest.fixture
def long_speech(tmp_path):
    """5 minutes of speech: the front-end would be busy with it for longer than a
    stopped one is waited for (hearing.SETTLE_S), so one that is not stopped is left running."""
    wave, rate = sf.read(Path(__file__).resolve().parents[1] / "core" / "assets" / "example.wav", dtype="float32")
    sf.write(tmp_path / "long.wav", np.tile(wave, 48), rate)
    return tmp_path / "long.wav"


def test_ctrl_c_while_the_commands_load_is_one_line(monkeypatch, capsys):
    """Ctrl-C before the command runs, while its modules (torch among them) still import
    on a busy machine, once printed a traceback (found by CI under load)."""
    import diffusiontalker.cli as cli

    def interrupted(name, package=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert main(["generate", "speech.wav", "-o", "take.npz"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["diffusiontalker generate: interrupted"]


@pytest.mark.parametrize("gap", [0.05, 0.3])
@pytest.mark.parametrize("thread", [False, True], ids=["process", "thread"])
def test_ctrl_c_twice_exits_cleanly(tmp_path, long_speech, thread, gap):
    """A second Ctrl-C while the stopped front-end lets go, or while Python exits, is
    ignored: it once came while Python joined the thread at exit and aborted the process
    (a C++ runtime error, SIGABRT), and a child stopped at once let it land in Python's
    exit, which printed a traceback. Where the front-end works in a child process, the
    child goes with it."""
    import signal
    import time

    process = _generate_process([long_speech, "-o", "take.npz", "--quiet"], tmp_path, thread)
    if thread:
        assert process.stdout.readline() == "torch\n"
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    time.sleep(gap)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (130, -signal.SIGINT), err  # a shell reads both as Ctrl-C; SIGABRT is -6
    assert err.strip().splitlines() == ["diffusiontalker generate: interrupted"]
    assert not (tmp_path / "take.npz").exists()
    assert _still_hearing(long_speech) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the front-end forks only on Linux")
def test_a_typo_stops_the_front_ends_process_at_once(tmp_path, long_speech):
    """An option refused while the forked front-end hears a long recording: one line,
    and the child is stopped, not left to finish."""
    process = _generate_process([long_speech, "-o", "take.npz", "--quiet", "--style", "zed"], tmp_path)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unknown talking style 'zed'" in lines[0]
    assert _still_hearing(long_speech) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the front-end forks only on Linux")
def test_the_front_ends_process_ends_with_its_parent_however_it_ends(tmp_path, long_speech):
    """Killed outright (SIGKILL: no handler runs), the parent cannot stop its child; the
    child must not go on hearing five minutes of speech on its own."""
    import signal
    import time

    process = _generate_process([long_speech, "-o", "take.npz", "--quiet"], tmp_path)
    time.sleep(3)
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL  # not communicate(): the child holds stderr open
    process.stdout.close()
    process.stderr.close()
    assert _still_hearing(long_speech, grace=10) == []


def test_a_system_that_cannot_fork_hears_on_a_thread(speech, monkeypatch):
    """Out of processes (fork fails with EAGAIN), the front-end works on a thread instead
    of failing the take."""
    import errno
    import os

    from diffusiontalker import hearing, phonetics

    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(hearing, "forks", lambda: True)
    monkeypatch.setattr(os, "fork", no_fork)
    heard = phonetics.Timed([(0.0, 1.0, "sil")])
    monkeypatch.setattr(phonetics, "timed", lambda wave, transcript, warn, cancel, progress: heard)
    assert hearing.FrontEnd(str(speech), None, 600.0, True).result() == (heard, [])


@pytest.mark.skipif(sys.platform != "linux", reason="the front-end forks only on Linux")
def test_the_forked_front_end_hears_as_the_thread_does(tmp_path):
    """The same take from a child process's phones as from a thread's, also where the
    transcript's last words are not said (where recognition takes over comes back from
    the child too: the take would differ without it), and the child's refusal of a
    transcript that is not said is the same one line."""
    from diffusiontalker.synthtalk.espeak import speak

    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    said = "Put the big map back by the pump, Bob."
    utterance = speak(said, "en-us")
    sf.write(tmp_path / "said.wav", utterance.audio, utterance.sample_rate)
    takes = {}
    for thread in (False, True):
        for name, transcript in (("said", said), ("more", f"{said} and then the tomato")):
            process = _generate_process(["said.wav", "-o", f"{name}_{thread}.npz", "--quiet", "--transcript",
                                         transcript], tmp_path, thread)
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            takes[name, thread] = np.load(tmp_path / f"{name}_{thread}.npz")["offsets"]
        assert '"and then the tomato") were not heard after' in err
        process = _generate_process(["said.wav", "-o", "no.npz", "--quiet", "--transcript",
                                     "nobody said any of these many long words here at all today"], tmp_path, thread)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 2 and len(err.strip().splitlines()) == 1
        assert "does not fit the audio" in err and not (tmp_path / "no.npz").exists()
    for name in ("said", "more"):
        np.testing.assert_array_equal(takes[name, False], takes[name, True])
