"""SynthTalk: a synthetic talking-face dataset whose ground truth is known.

espeak-ng speaks generated sentences and reports when each phoneme sounds; a
dominance-function articulation model turns those phonemes into FLAME-topology
mouth and upper-face motion, per speaker style. Imported lazily by the ``data``
command so that ordinary use of the package never needs libespeak-ng.
"""
