"""The house rules a refactor must not break: the package installs whole, modules
import one way, help texts point at files that exist, and cards carry no machine's paths."""

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from diffusiontalker.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _module_graph() -> dict[str, set[str]]:
    """Every relative import (at module level or inside a function: a lazy import is still
    a dependency) between the modules of core/ and diffusiontalker_addon/."""
    files = {}
    for package in ("core", "diffusiontalker_addon"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                for target in [base] + [f"{base}.{alias.name}" for alias in node.names]:
                    if target in files and target != name:
                        graph[name].add(target)
    return graph


def _cycles(graph) -> list[list[str]]:
    state, path, found = {}, [], []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_in_a_circle():
    graph = _module_graph()
    assert "core.pipeline" in graph and "core.synthtalk.build" in graph  # the walk found the modules
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_the_built_wheel_holds_every_core_module(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel, = tmp_path.glob("diffusiontalker-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = {"diffusiontalker/" + p.relative_to(ROOT / "core").as_posix() for p in (ROOT / "core").rglob("*.py")}
    assert "diffusiontalker/synthtalk/build.py" in expected
    assert expected - inside == set()
    assert "diffusiontalker/assets/demo.safetensors" in inside


def _help_texts() -> list[str]:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:
        texts += [sub.format_help() for sub in action.choices.values()]
    return texts


def test_help_points_only_at_files_that_exist():
    named = {m for text in _help_texts() for m in re.findall(r"(?:docs|research)/[\w/.-]+\.md", text)}
    named |= set(re.findall(r"(?:docs|research)/[\w/.-]+\.md", (ROOT / "core" / "generate.py").read_text()))
    assert named, "no file named in the help texts: the pattern no longer matches them"
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []


def test_the_bundled_card_holds_no_path_of_the_machine_it_was_made_on():
    text = (ROOT / "core" / "assets" / "demo.json").read_text()
    card = json.loads(text)["card"]
    assert "synthtalk" in card["trained_on"]
    assert re.findall(r'": *"/[A-Za-z][^"]*"', text) == []
