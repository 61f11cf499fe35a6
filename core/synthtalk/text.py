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


# The other languages SynthTalk speaks: a smaller grammar each (names, objects with
# their article, past-tense verbs, adverbials, templates), rich in the same contrasts.
_FOREIGN = {
    "de": (["Paul", "Mia", "Boris", "Frieda", "Moritz", "Wilma", "Uwe", "Greta", "Max", "Luise"],
           ["den Ball", "die Lampe", "das Boot", "die Blume", "den Mond", "das Fenster", "die Puppe", "den Apfel",
            "das Buch", "die Mauer", "den Wagen", "die Muschel"],
           ["gefunden", "bemalt", "gekauft", "verloren", "gewaschen", "gebaut", "vergessen", "mitgebracht"],
           ["am Morgen", "im Sommer", "ganz langsam", "ohne ein Wort", "vor dem Essen", "mit Freude", "am Fluss"],
           ["{N} hat {O} {D} {V}.", "Warum hat {N} {O} {V}?", "Gestern hat {N} {O} und {O2} {V}.",
            "Oh, {N}, du hast {O} {D} {V}!"]),
    "es": (["Pablo", "Marta", "Bea", "Fernando", "Vicente", "Lupe", "Manuel", "Paloma", "Rubén", "Amparo"],
           ["la pelota", "el barco", "la manzana", "el libro", "la ventana", "el perro", "la muñeca", "el mapa",
            "la botella", "el puente", "la fuente", "el abrigo"],
           ["compró", "pintó", "movió", "abrió", "buscó", "perdió", "lavó", "trajo"],
           ["por la mañana", "muy despacio", "sin decir nada", "antes de comer", "con una sonrisa", "en verano",
            "junto al mar"],
           ["{N} {V} {O} {D}.", "¿Por qué {N} {V} {O}?", "Ayer {N} {V} {O} y {O2}.", "¡Ay, {N}, {V} {O} otra vez!"]),
    "fr": (["Paul", "Manon", "Bruno", "Fanny", "Victor", "Louise", "Hugo", "Pauline", "Marcel", "Odile"],
           ["la pomme", "le bateau", "la fenêtre", "le livre", "la poupée", "le ballon", "la bouteille", "le pont",
            "la lune", "le moulin", "la boîte", "le manteau"],
           ["a acheté", "a peint", "a ouvert", "a perdu", "a trouvé", "a lavé", "a poussé", "a oublié"],
           ["le matin", "très lentement", "sans un mot", "avant le repas", "avec un sourire", "en été",
            "au bord de l'eau"],
           ["{N} {V} {O} {D}.", "Pourquoi {N} {V} {O} ?", "Hier, {N} {V} {O} et {O2}.", "Oh, {N} {V} {O} encore !"]),
    "it": (["Paolo", "Maria", "Bruno", "Franca", "Vittorio", "Lucia", "Marco", "Beppe", "Ottavia", "Umberto"],
           ["la mela", "il battello", "la finestra", "il libro", "la bambola", "il pallone", "la bottiglia",
            "il ponte", "la luna", "il mulino", "la scatola", "il cappotto"],
           ["ha comprato", "ha dipinto", "ha aperto", "ha perso", "ha trovato", "ha lavato", "ha spinto",
            "ha dimenticato"],
           ["di mattina", "molto piano", "senza una parola", "prima di pranzo", "con un sorriso", "in estate",
            "vicino al mare"],
           ["{N} {V} {O} {D}.", "Perché {N} {V} {O}?", "Ieri {N} {V} {O} e {O2}.", "Oh, {N} {V} {O} di nuovo!"]),
}
LANGUAGES = ("en", *_FOREIGN)


def sentence(seed: int, key: str, language: str = "en") -> str:
    """The sentence for (`seed`, `key`) in `language`: the same triple always gives the same words."""
    if language != "en":
        return _foreign(random.Random(f"{seed}/{key}/{language}"), *_FOREIGN[language])
    rng = random.Random(f"{seed}/{key}")
    name, name2 = rng.sample(_NAMES, 2)
    noun, noun2 = rng.sample(_NOUNS, 2)
    text = rng.choice(_TEMPLATES).format(
        N=name, N2=name2, O=noun, O2=noun2, A=rng.choice(_ADJS), V=rng.choice(_VERBS),
        V2=rng.choice(_GERUNDS), D=rng.choice(_ADVS), C=rng.choice(_CLAUSES))
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def _foreign(rng: random.Random, names, objects, verbs, adverbials, templates) -> str:
    name = rng.choice(names)
    obj, obj2 = rng.sample(objects, 2)
    text = rng.choice(templates).format(N=name, O=obj, O2=obj2, V=rng.choice(verbs), D=rng.choice(adverbials))
    return text[0].upper() + text[1:]
