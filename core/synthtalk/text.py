"""Sentences to speak: a small seeded grammar rather than a corpus.

A grammar gives millions of distinct, readable sentences with no licence to worry
about, and its word lists are chosen so every sentence mixes bilabials (p, b, m),
labiodentals (f, v), rounded (oo, o, w) and spread (ee) sounds with open vowels,
the contrasts the articulation model and its tests are about.
"""

from __future__ import annotations

import random
import re

_NAMES = ["Peter", "Mabel", "Bob", "Fiona", "Victor", "Maria", "Paul", "Ruth", "Owen", "Wendy",
          "Hugo", "Eva", "Tom", "Judy", "Martha", "Boris", "Lucy", "Vivian", "Walter", "Amy"]
_NOUNS = ["balloon", "moon", "apple", "window", "boat", "puppy", "violin", "map", "bottle", "feather",
          "garden", "museum", "market", "bridge", "coffee", "umbrella", "piano", "rooftop", "forest", "harbour",
          "mirror", "blue box", "yellow kite", "warm bread", "old photo", "wooden spoon", "movie", "meadow",
          "pebble", "fountain", "tomato", "football", "lamp", "ocean", "mountain", "cabin", "tunnel", "pillow"]
_VERBS = ["bought", "found", "painted", "moved", "opened", "borrowed", "pushed", "followed", "watched", "fixed",
          "carried", "remembered", "loved", "showed", "dropped", "measured", "polished", "visited", "wrapped", "shared"]
_ADJS = ["beautiful", "tiny", "enormous", "smooth", "purple", "cheap", "famous", "wobbly", "vivid", "gloomy",
         "bumpy", "open", "fluffy", "broken", "shiny", "quiet", "humble", "massive", "woolly", "fabulous"]
_ADVS = ["happily", "very slowly", "at midnight", "before breakfast", "with a smile", "in the morning",
         "without a word", "by the river", "on Tuesday", "after the movie", "once more", "far away"]
_CLAUSES = ["because it was raining", "when the music stopped", "while we were waiting", "before the boat left",
            "as the moon rose", "although nobody believed it", "when Mum phoned", "so we could move on",
            "even though it was February", "because you asked politely"]
_TEMPLATES = [
    "{N} {V} the {A} {O} {D}.",
    "Why did {N} leave the {O} by the {O2}?",
    "The {A} {O} was {V} {D}, {C}.",
    "{N} and {N2} {V} a {A} {O} {C}.",
    "Please move the {O} away from the {A} {O2}.",
    "Would you believe that {N} {V} my {O}?",
    "We were {V2} the {A} {O} {D}.",
    "Before noon, {N} {V} the {O} and the {O2}.",
    "My mother {V} a {A} {O} {C}.",
    "Oh, {N}, you {V} the {A} {O} again!",
    "If {N} {V} the {O}, who will fix the {O2}?",
    "Every evening {N} {V} a {A} {O} {D}.",
]
_GERUNDS = ["moving", "polishing", "watching", "painting", "opening", "measuring", "wrapping", "following"]


def sentence(seed: int, key: str) -> str:
    """The sentence for (`seed`, `key`): the same pair always gives the same words."""
    rng = random.Random(f"{seed}/{key}")
    name, name2 = rng.sample(_NAMES, 2)
    noun, noun2 = rng.sample(_NOUNS, 2)
    text = rng.choice(_TEMPLATES).format(
        N=name, N2=name2, O=noun, O2=noun2, A=rng.choice(_ADJS), V=rng.choice(_VERBS),
        V2=rng.choice(_GERUNDS), D=rng.choice(_ADVS), C=rng.choice(_CLAUSES))
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)
