"""Scoring timed phones against espeak-ng's own timings (tests and bench/bench_phonetics.py).

espeak speaks its mnemonics and PocketSphinx ARPAbet, so both are compared through
SynthTalk's articulation classes: the level at which a face can tell phones apart.
"""

from difflib import SequenceMatcher

from diffusiontalker.synthtalk.phones import arpabet_class, espeak_class


def _spoken(rows, classify):
    return [(start, end, classify(name)) for start, end, name in rows if classify(name) != ("pause",)]


def boundary_errors(truth, found) -> list[float]:
    """|start difference| in seconds of each phone the two sequences share, matched in order."""
    t, f = _spoken(truth, espeak_class), _spoken(found, arpabet_class)
    blocks = SequenceMatcher(None, [c for _, _, c in t], [c for _, _, c in f], autojunk=False).get_matching_blocks()
    return [abs(t[b.a + k][0] - f[b.b + k][0]) for b in blocks for k in range(b.size)]


def class_error_rate(truth, found) -> float:
    """Edit distance between the class sequences over the true sequence's length."""
    t = [c for _, _, c in _spoken(truth, espeak_class)]
    f = [c for _, _, c in _spoken(found, arpabet_class)]
    row = list(range(len(f) + 1))
    for i, tc in enumerate(t, 1):
        prev, row[0] = row[0], i
        for j, fc in enumerate(f, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (tc != fc))
    return row[-1] / len(t)


def bilabials_found(truth, found, tolerance: float) -> float:
    """Share of espeak's p/b/m that a recognised bilabial overlaps, `tolerance` seconds either side."""
    closures = [(s, e) for s, e, c in _spoken(truth, espeak_class) if c == ("bilabial",)]
    heard = [(s, e) for s, e, c in _spoken(found, arpabet_class) if c == ("bilabial",)]
    hits = sum(any(hs < e + tolerance and he > s - tolerance for hs, he in heard) for s, e in closures)
    return hits / len(closures)
