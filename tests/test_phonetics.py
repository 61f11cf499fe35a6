import ctypes.util
import json
import statistics
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from diffusiontalker import phonetics
from diffusiontalker.audio import load_audio
from diffusiontalker.cli import main
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.synthtalk.articulate import read_phones
from phone_timing import bilabials_found, boundary_errors, class_error_rate

pytest.importorskip("pocketsphinx")
needs_espeak = pytest.mark.skipif(ctypes.util.find_library("espeak-ng") is None,
                                  reason="libespeak-ng is not installed")

BILABIAL = "Put the big map back by the pump, Bob."


@pytest.fixture(scope="module")
def spoken():
    from diffusiontalker.synthtalk.espeak import speak

    utterance = speak(BILABIAL, "en-us")
    return utterance, load_audio(utterance.audio, utterance.sample_rate)


@needs_espeak
def test_alignment_lands_on_espeaks_own_boundaries(spoken):
    utterance, wave = spoken
    aligned = phonetics.align(wave, BILABIAL)
    errors = boundary_errors(utterance.phonemes, aligned)
    assert len(errors) >= 20  # nearly every one of the sentence's 25 phones was matched
    assert statistics.median(errors) < 0.04
    shifted = [(s + 0.1, e + 0.1, p) for s, e, p in aligned]
    assert statistics.median(boundary_errors(utterance.phonemes, shifted)) > 0.04


@needs_espeak
def test_words_too_quick_for_the_phone_pass_share_their_word_alignment():
    from diffusiontalker.synthtalk.espeak import speak

    text = "The quick brown fox jumps over the lazy dog."
    utterance = speak(text, "en-gb-x-rp")  # PocketSphinx's phone pass fails on this one
    aligned = phonetics.align(load_audio(utterance.audio, utterance.sample_rate), text)
    errors = boundary_errors(utterance.phonemes, aligned)
    assert len(errors) >= 24 and statistics.median(errors) < 0.04
    # the pass's word segments may share a frame (its first word began where its <s> did)
    assert all(start < end for start, end, _ in aligned)
    assert all(before[1] <= after[0] for before, after in zip(aligned, aligned[1:]))


@needs_espeak
def test_a_quiet_last_word_is_not_lost_to_silence():
    from diffusiontalker.synthtalk.espeak import speak

    text = "Put the big map back by the pump."  # with fillers, "pump" was called silence
    utterance = speak(text, "en-us")
    aligned = phonetics.align(load_audio(utterance.audio, utterance.sample_rate), text)
    assert [p for _, _, p in aligned if p != "sil"][-4:] == ["p", "ah", "m", "p"]


@needs_espeak
def test_allphone_search_covers_the_audio_and_hears_some_closures(spoken):
    utterance, wave = spoken
    phones = phonetics.allphones(wave)
    assert phones[0][0] >= 0 and phones[-1][1] <= len(wave) / 16000
    assert all(a[1] <= b[0] for a, b in zip(phones, phones[1:]))
    assert {p for _, _, p in phones} <= set(phonetics.PHONES)
    # Synthetic speech is far from the real voices the model was trained on: this only
    # guards against a regression to silence or noise (see docs/benchmarks.md for rates).
    assert bilabials_found(utterance.phonemes, phones, 0.05) > 0
    assert class_error_rate(utterance.phonemes, phones) < 0.95
    # the pause at the comma is heard as one (where espeak put it: its timing moves by a few
    # ms with what the same process said before)
    pause = next((s + e) / 2 for s, e, p in utterance.phonemes if p.startswith("_") and e - s > 0.1)
    assert any(p == "sil" and s < pause < e for s, e, p in phones)


def test_features_split_frames_between_phones():
    phones = [(0.0, 0.05, "m"), (0.05, 0.1, "aa")]
    feats = phonetics.features(phones, 20.0, 4)
    assert feats.shape == (4, phonetics.CHANNELS) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:, :-1].sum(axis=1), 1.0, atol=1e-6)
    assert not feats[:, -1].any()  # recognised, unless told they were aligned to what is said
    np.testing.assert_array_equal(phonetics.features(phones, 20.0, 4, aligned=True)[:, -1], 1.0)
    m, aa, sil = (phonetics.PHONES.index(p) for p in ("m", "aa", "sil"))
    np.testing.assert_allclose(feats[:, m], [1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(feats[:, aa], [0, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(feats[:, sil], [0, 0, 1, 1], atol=1e-6)
    half = phonetics.features([(0.0, 0.025, "m"), (0.025, 0.05, "aa")], 20.0, 1)
    assert half[0, m] == pytest.approx(0.5) and half[0, aa] == pytest.approx(0.5)


@needs_espeak
def test_a_kept_decoder_hears_as_a_new_one(spoken, monkeypatch):
    """Decoders are kept for reuse (making one took 0.2 s); what a decoder heard before,
    a failed phone pass or a word it had to guess included, must not change what it hears next."""
    from diffusiontalker.synthtalk.espeak import speak

    lines = [("Zorblax put the big map back.", "en-us"),
             ("The quick brown fox jumps over the lazy dog.", "en-gb-x-rp")]  # its phone pass fails
    clips = [(text, load_audio(u.audio, u.sample_rate)) for text, voice in lines for u in [speak(text, voice)]]
    clips.append((BILABIAL, spoken[1]))

    def heard(text, wave):
        said = []
        return phonetics.align(wave, text, said.append), phonetics.allphones(wave), said

    alone = []
    for clip in clips:
        monkeypatch.setattr(phonetics, "_KEPT", threading.local())
        alone.append(heard(*clip))
    monkeypatch.setattr(phonetics, "_KEPT", threading.local())
    assert [heard(*clip) for clip in clips + clips] == alone + alone
    assert alone[0][2] == ["not in the pronouncing dictionary, pronounced from their spelling: zorblax"]
    assert len(phonetics._KEPT.decoders) == 2  # every grammar's search, allphone search


@needs_espeak
def test_settling_under_a_one_word_grammar_hears_as_settling_under_the_search_itself(spoken, monkeypatch):
    """The settling pass searches a cheap grammar (half the cost); the cepstral mean and
    noise estimate it leaves must be the ones the real search's own first pass left."""
    def heard():
        monkeypatch.setattr(phonetics, "_KEPT", threading.local())
        return (phonetics.align(spoken[1], BILABIAL), phonetics.allphones(spoken[1]),
                phonetics.sphinx_words(np.concatenate([spoken[1]] * 3)))

    cheap = heard()

    def settled_by_its_own_search(decoder, wave, settle_s=None):
        decoder.reinit_feat()
        phonetics._feed(decoder, wave if settle_s is None else wave[:int(settle_s * 16000)])
        phonetics._feed(decoder, wave)

    monkeypatch.setattr(phonetics, "_feed_settled", settled_by_its_own_search)
    assert heard() == cheap

@needs_espeak
def test_a_decoder_left_inside_an_utterance_is_let_go(spoken, monkeypatch):
    monkeypatch.setattr(phonetics, "_KEPT", threading.local())
    _, wave = spoken
    first = phonetics.align(wave, BILABIAL)
    kept = phonetics._grammar_decoder()

    class Interrupted:  # Ctrl-C while PocketSphinx decodes, after the utterance began
        def start_utt(self):
            kept.start_utt()

        def process_raw(self, pcm):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        phonetics._feed(Interrupted(), wave)
    assert phonetics.align(wave, BILABIAL) == first  # a new decoder: the kept one would refuse to start


def test_unknown_words_are_guessed_from_their_spelling():
    assert phonetics.guess_pronunciation("zorblax") == "Z AA R B L AE K S"
    assert phonetics.guess_pronunciation("sheep") == "SH IY P"


@needs_espeak
def test_cli_json_round_trips_through_articulate(tmp_path, spoken, capsys):
    utterance, _ = spoken
    audio = tmp_path / "line.wav"
    sf.write(audio, utterance.audio, utterance.sample_rate)
    text = tmp_path / "line.txt"
    text.write_text("Put the big map back by the pump, Blorb.\n", encoding="utf-8")
    out = tmp_path / "new" / "line.json"  # its folder is made, as generate makes its own
    assert main(["phones", str(audio), "--transcript-file", str(text), "-o", str(out), "--quiet"]) == 0
    said = capsys.readouterr()
    assert "blorb" in said.err and said.out == ""  # quiet: the warning still, no summary
    rows = json.loads(out.read_text())
    assert all(p in phonetics.PHONES for _, _, p in rows) and "sil" in {p for _, _, p in rows}
    classes, alphabet = read_phones(out)
    assert alphabet == "arpabet" and len(classes) == len(rows)
    assert ("bilabial",) in {c for _, _, c in classes}


@pytest.mark.parametrize("extra, message", [
    (["--transcript", " ,. "], "the transcript is empty"),
    (["--transcript", "take 2"], "write numbers as words"),
    (["--transcript-file", "nowhere.txt"], "nowhere.txt: no such file"),
    (["--transcript", "Meet me in Tokyo, 東京, at the café"], "letters other than English ones: 東京;"),
])
def test_bad_transcripts_give_one_line(tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    assert main(["phones", "a.wav", *extra, "-o", "a.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_typed_transcripts_become_the_dictionarys_words():
    """As a word processor or a French name writes them: accents go, curly apostrophes count."""
    assert phonetics.transcript_words("Don’t touch Zoë’s café, Œdipus; naïve Straße!") == [
        "don't", "touch", "zoe's", "cafe", "oedipus", "naive", "strasse"]


def test_unreadable_audio_and_missing_pocketsphinx(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    assert main(["phones", str(bad), "-o", str(tmp_path / "a.json")]) == 2
    assert "bad.wav" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    monkeypatch.setattr(phonetics, "_KEPT", threading.local())  # no decoders kept from other tests
    with pytest.raises(DiffusionTalkerError, match="pip install pocketsphinx"):
        phonetics.recognise(np.zeros(16000, np.float32))


def test_a_transcript_that_is_not_said_is_refused():
    with pytest.raises(DiffusionTalkerError, match="does not fit the audio"):
        phonetics.align(np.zeros(16000, np.float32), "a long sentence that nobody said here at all")


@needs_espeak
def test_recognition_hears_words_and_aligns_them(spoken, monkeypatch):
    utterance, wave = spoken
    # which words it hears in espeak's voice, far from the real speech it learned, is left to
    # bench/word_search.py on real voices; here, that it hears dictionary words at all
    words = phonetics.recognise_words(wave)
    assert words and all(w.replace("'", "").isalpha() and w.islower() for w in words.split())
    aligned = phonetics.align(wave, words)
    assert phonetics.recognise(wave) == aligned  # the recognised words, timed as a transcript would be
    monkeypatch.setattr(phonetics, "recognise_phrases", lambda wave, *how: [])  # no words heard: a hum, a laugh
    assert phonetics.recognise(wave) == phonetics.allphones(wave)
    monkeypatch.setattr(phonetics, "recognise_phrases", lambda wave, *how: [(0.2, 1.5, "words that were never said")])

    def refuse(wave, text, **how):
        raise DiffusionTalkerError("the transcript does not fit the audio")

    monkeypatch.setattr(phonetics, "align", refuse)
    assert phonetics.recognise(wave) == phonetics.allphones(wave)

    def lost_after_one_word(wave, text, **how):  # "never" placed, the aligner lost the rest at 0.4 s
        raise phonetics.NotPlaced("lost", [(0.1, 0.2, "n"), (0.2, 0.4, "eh")], 6400, text.split()[1:])

    searched = []

    def allphones(rest):
        searched.append(len(rest))
        return [(0.1, 0.3, "aa")]

    monkeypatch.setattr(phonetics, "align", lost_after_one_word)
    monkeypatch.setattr(phonetics, "allphones", allphones)
    assert phonetics.recognise(wave) == [(0.1, 0.2, "n"), (0.2, 0.4, "eh"), (0.5, 0.7, "aa")]
    assert searched == [len(wave) - 6400]  # only what was not placed is searched phone by phone


@needs_espeak
def test_training_hears_what_generation_hears_and_keeps_it_until_the_front_end_changes(spoken, tmp_path):
    from types import SimpleNamespace

    from diffusiontalker import clip_phones

    _, wave = spoken
    clips = [SimpleNamespace(name="line", audio=wave)]
    rows = clip_phones.heard_in("vocaset", tmp_path, clips, workers=1)["line"]
    # without a transcript generation recognises the words and aligns them; training must read the same
    assert [tuple(r) for r in rows["recognised"]] == phonetics.recognise(wave) and rows["aligned"] is None
    cache = tmp_path / clip_phones.CACHE
    doc = json.loads(cache.read_text())
    assert doc["stamp"]["version"] == clip_phones.VERSION
    doc["clips"]["line"]["recognised"] = [[0.0, 0.5, "m"]]
    cache.write_text(json.dumps(doc))
    assert clip_phones.heard_in("vocaset", tmp_path, clips)["line"]["recognised"] == [[0.0, 0.5, "m"]]
    doc["stamp"]["version"] -= 1  # rows of an older front-end are worked out again
    cache.write_text(json.dumps(doc))
    assert clip_phones.heard_in("vocaset", tmp_path, clips, workers=1)["line"]["recognised"] != [[0.0, 0.5, "m"]]


@pytest.fixture(scope="module")
def long_speech():
    """Eleven espeak sentences, 0.25 s apart: 32 s, past what one PocketSphinx alignment
    places; with how many phones aligning each sentence alone matches."""
    from diffusiontalker.synthtalk.espeak import speak
    from diffusiontalker.synthtalk.text import sentence

    waves, truth, texts, alone, at = [], [], [], 0, 0.0
    for n in range(11):
        texts.append(sentence(0, f"long{n}"))
        utterance = speak(texts[-1], "en-us")
        wave = load_audio(utterance.audio, utterance.sample_rate)
        alone += len(boundary_errors(utterance.phonemes, phonetics.align(wave, texts[-1])))
        truth += [(start + at, end + at, name) for start, end, name in utterance.phonemes]
        waves.append(np.concatenate([wave, np.zeros(4000, np.float32)]))
        at += len(waves[-1]) / 16000
    return np.concatenate(waves), truth, " ".join(texts), alone


@needs_espeak
def test_a_long_recording_is_aligned_in_windows_that_share_out_its_transcript(long_speech):
    wave, truth, text, alone = long_speech
    assert len(wave) > 2 * phonetics.ALIGN_PIECE_S * 16000
    aligned = phonetics.align(wave, text)
    errors = boundary_errors(truth, aligned)  # 347 phones matched against 346 aligning each sentence alone
    assert len(errors) >= 0.97 * alone and statistics.median(errors) < 0.02
    assert aligned[-1][1] > len(wave) / 16000 - 0.5 and bilabials_found(truth, aligned, 0.02) >= 0.95


@needs_espeak
@pytest.mark.parametrize("voice,seed", [("en-us", 1), ("en-gb-x-rp", 19)])
def test_a_long_transcript_is_placed_where_a_window_loses_its_way(voice, seed):
    """Readings (25-35 s) on which pieces cut in advance left the whole transcript
    unplaced, in each of three syntheses: a piece's search dropped the true path at a
    word and heard the rest as a pause, so its count of words fell short and every later
    piece was given words it does not say."""
    from diffusiontalker.synthtalk.espeak import speak
    from diffusiontalker.synthtalk.text import sentence

    waves, truth, texts, at = [], [], [], 0.0
    while at < (25 if voice == "en-us" else 35):
        texts.append(sentence(seed, f"long{len(texts)}"))
        utterance = speak(texts[-1], voice)
        waves.append(np.concatenate([load_audio(utterance.audio, utterance.sample_rate), np.zeros(4000, np.float32)]))
        truth += [(start + at, end + at, name) for start, end, name in utterance.phonemes]
        at += len(waves[-1]) / 16000
    wave = np.concatenate(waves)
    aligned = phonetics.align(wave, " ".join(texts))
    errors = boundary_errors(truth, aligned)  # 269 of 336 phones at a median 0.015 s (en-us, seed 1)
    assert len(errors) >= 0.75 * len(truth) and statistics.median(errors) < 0.02
    assert aligned[-1][1] > len(wave) / 16000 - 0.5 and bilabials_found(truth, aligned, 0.02) >= 0.9


@needs_espeak
def test_a_long_recording_is_recognised_in_pieces(long_speech):
    wave, truth, _, alone = long_speech
    heard = phonetics.recognise(wave)
    errors = boundary_errors(truth, heard)
    # every piece's words heard and aligned (270 phones matched, median 0.014 s, 80% of
    # p/b/m); allphone search, the fallback that one failed alignment used to leave the
    # whole recording to, matches 132 at a median 0.041 s and finds 35% of p/b/m
    assert len(errors) >= 0.7 * alone and statistics.median(errors) < 0.025
    assert bilabials_found(truth, heard, 0.02) >= 0.7


@needs_espeak
@pytest.mark.parametrize("transcript,whisper", [(False, True), (False, False), (True, True)])
def test_a_long_recording_says_how_far_it_is_and_stops_when_cancelled(long_speech, transcript, whisper, monkeypatch,
                                                                     request):
    from diffusiontalker import transcribe
    from diffusiontalker.audio import pieces
    from diffusiontalker.errors import Cancelled

    if not whisper:  # PocketSphinx hears the words, piece by piece
        monkeypatch.setenv(transcribe.ENV, "off")
        transcribe.transcriber.cache_clear()
        request.addfinalizer(transcribe.transcriber.cache_clear)  # the next test finds Whisper again
    wave, _, text, _ = long_speech
    aligning = "Aligning the transcript" if transcript else "Aligning the words"
    seen, cancel = [], threading.Event()

    def progress(what, done, total):
        seen.append((what, done))
        assert total == len(wave) / 16000
        if what == aligning:
            cancel.set()  # Cancel pressed while the first piece is aligned
    with pytest.raises(Cancelled):  # not swallowed by a fallback (allphone search, one whole alignment)
        phonetics.timed(wave, text if transcript else None, cancel=cancel, progress=progress)
    assert seen[0] == ("Aligning the transcript" if transcript else "Recognising the words", 0.0)
    assert [what for what, _ in seen].count(aligning) == 1 and seen[-1] == (aligning, 0.0)
    if not whisper:  # a report before each piece PocketSphinx hears, in order
        heard = [done for what, done in seen if what == "Recognising the words"]
        assert heard == [first / 16000 for first, _ in pieces(wave, phonetics.ALIGN_PIECE_S)]


def test_spans_hold_whole_phrases_and_cover_the_recording():
    second = 16000
    phrases = [(0.5, 4.0, "a"), (4.4, 9.0, "b"), (9.6, 14.0, "c"), (14.2, 30.0, "d"), (31.0, 33.0, "e")]
    spans = phonetics._spans(phrases, 35 * second)
    assert [words for _, _, words in spans] == ["a b c", "d", "e"]  # "d" alone is longer than a span may be
    assert spans[0][0] == 0 and spans[-1][1] == 35 * second
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # no gap, no overlap
    assert spans[1][0] == int(14.1 * second)  # halfway between two phrases
    assert phonetics._spans([], 5 * second) == [(0, 5 * second, "")]


@needs_espeak
def test_a_recording_mostly_pause_is_still_aligned_when_its_pieces_miscount_their_words():
    from diffusiontalker.synthtalk.espeak import speak

    first, second = BILABIAL, "The family went to see the moon."
    waves = [load_audio(u.audio, u.sample_rate) for u in (speak(first, "en-us"), speak(second, "en-us"))]
    room_tone = (np.random.default_rng(0).standard_normal(12 * 16000) * 1e-3).astype(np.float32)
    wave = np.concatenate([waves[0], room_tone, waves[1]])  # 16 s: two pieces, the first mostly pause
    aligned = phonetics.align(wave, f"{first} {second}")
    spoken = [p for _, _, p in aligned if p != "sil"]
    assert spoken[:3] == ["p", "uh", "t"] and spoken[-2:] == ["uw", "n"]
    assert aligned[-1][1] > len(wave) / 16000 - 1.0


# espeak-ng's library carries state from one synthesis to the next, so these come last:
# synthesising before the long recordings changed how those came out (one sentence of
# them then could not be aligned)
@needs_espeak
def test_a_grammar_searched_with_wide_beams_leaves_the_next_alignment_as_it_was(monkeypatch):
    """One decoder serves every grammar, each search set up with its own beams and
    fillers; the window search's wide beams and the filler-less alignment must not carry
    over to the alignment that follows them. (These British lines often align otherwise
    under the window search's beams, so a leak would show; espeak renders them a little
    differently each time, hence three.)"""
    from diffusiontalker.synthtalk.espeak import speak

    for text in ("Why did Maria leave the tomato by the moon?", "Oh, Mabel, you moved the massive meadow again!",
                 "My mother visited an enormous blue box because you asked."):
        utterance = speak(text, "en-gb-x-rp")
        wave = load_audio(utterance.audio, utterance.sample_rate)
        monkeypatch.setattr(phonetics, "_KEPT", threading.local())
        alone = phonetics.align(wave, text)
        phonetics._words_said(wave, phonetics.transcript_words(text), None)
        assert phonetics.align(wave, text) == alone
        phonetics._grammar_decoder(fsgusefiller=False).set_align_text("why did maria")
        assert phonetics.align(wave, text) == alone


@needs_espeak
def test_the_grammar_decoder_without_a_language_model_hears_as_one_with_it(monkeypatch):
    """Grammars need no language model, and the decoder that searches them loads none
    (0.15 s to make instead of 0.3); its phones must still be those a decoder with the
    model finds, which the bundled model was trained on. (Without ``_keep_every_frame``
    three in four of espeak's renderings of this line came out a frame apart; it is
    rendered three times, as renderings differ by a few samples.)"""
    from diffusiontalker.synthtalk.espeak import speak

    made = phonetics._decoder

    def with_model(allphone=False, grammar=False, **options):  # PocketSphinx's US-English language model loaded
        return made(allphone, **options)

    text = "Oh, Mabel, you moved the massive meadow again!"
    for _ in range(3):
        utterance = speak(text, "en-gb-x-rp")
        wave = load_audio(utterance.audio, utterance.sample_rate)
        with monkeypatch.context() as patched:
            patched.setattr(phonetics, "_KEPT", threading.local())
            without_model = phonetics.align(wave, text)
            patched.setattr(phonetics, "_decoder", with_model)
            patched.setattr(phonetics, "_KEPT", threading.local())
            assert phonetics.align(wave, text) == without_model


@needs_espeak
def test_a_transcript_lost_after_half_its_words_is_finished_by_recognition(spoken, monkeypatch):
    """Dialogue whose last words are not heard (said otherwise, ad-libbed, or lost by the
    aligner) still gets its phones: those placed, then the rest recognised, with a
    warning naming the words left out; those phones are marked as only recognised. The
    aligner itself stays strict (training data must not mix in recognised phones), and a
    transcript mostly of something else is refused."""
    utterance, wave = spoken
    wave = np.concatenate([wave, np.zeros(32000, np.float32)])
    heard = []

    def recognise(rest, cancel=None, progress=None):
        heard.append(len(rest))
        return [(0.1, 0.3, "m")]

    monkeypatch.setattr(phonetics, "recognise", recognise)
    warnings = []
    timed = phonetics.timed(wave, BILABIAL + " banana umbrella yesterday", warnings.append)
    start = timed.recognised_from
    speech_end = len(utterance.audio) / utterance.sample_rate
    assert speech_end - 0.3 < start < speech_end + 0.3
    assert heard == [len(wave) - round(start * 16000)]  # the rest of the recording, from there
    placed = [p for _, end, p in timed.rows if end <= start]
    assert "b" in placed and "m" in placed and placed[-1] != "sil"  # "... pump, Bob" placed
    assert (round(start + 0.1, 3), round(start + 0.3, 3), "m") in timed.rows  # then the recognised, on its clock
    assert len(warnings) == 1 and '"banana umbrella yesterday"' in warnings[0] and f"{start:.1f} s" in warnings[0]
    trust = phonetics.features(timed.rows, 30.0, 130, aligned=True, recognised_from=start)[:, -1]
    assert trust[:int(start * 30)].min() == 1.0 and trust[int(start * 30):].max() == 0.0

    with pytest.raises(phonetics.NotPlaced) as strict:
        phonetics.align(wave, BILABIAL + " banana umbrella yesterday")
    assert strict.value.left == ["banana", "umbrella", "yesterday"]
    with pytest.raises(DiffusionTalkerError, match="does not fit the audio"):
        phonetics.timed(wave, BILABIAL + " banana umbrella yesterday and then a purple elephant sang seven songs")
    assert len(heard) == 1


def test_an_error_restated_keeps_its_kind_and_what_it_holds():
    """The add-on says which take a problem is with; a NotPlaced made anew from its message
    alone raised a TypeError instead, and the user read "failed unexpectedly"."""
    from diffusiontalker.errors import restated

    lost = phonetics.NotPlaced("the transcript does not fit", [(0.0, 0.1, "sil")], 1600, ["word"])
    said = restated(lost, f"take 'A': {lost}")
    assert said is lost and str(said) == "take 'A': the transcript does not fit"
    assert said.rows == [(0.0, 0.1, "sil")] and said.at == 1600 and said.left == ["word"]
