"""Speech in and out for the phone: Piper's voice as phone frames, Whisper's words back from phone-band
audio, the transcription CLI, and the text a caller hears and the NLU reads."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from voice.audio import FRAME_MS, FRAME_SAMPLES, PHONE_RATE, mulaw_decode, phone_line, write_wav
from voice.spoken_text import for_the_ear, normalise_transcript, spoken_price
from voice.stt import SttConfig, Transcriber, clean_text, drop_restatements, encoder_frames, hint_arguments
from voice.tts import Speaker, TtsConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    """Piper without its noise: the same audio on every run."""
    voice = Speaker(TtsConfig(noise_scale=0.0, noise_w_scale=0.0))
    voice.load()
    return voice


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    whisper = Transcriber()
    whisper.load()
    return whisper


def on_the_phone(speaker: Speaker, text: str) -> np.ndarray:
    return phone_line(*speaker.synthesize(text))


# --- text to speech ----------------------------------------------------------------------------------


def test_phone_frames_are_160_bytes_and_last_as_long_as_the_speech(speaker: Speaker) -> None:
    pcm, rate = speaker.synthesize("I found three trainers.")
    frames = speaker.phone_frames("I found three trainers.")
    assert frames and all(len(frame) == FRAME_SAMPLES for frame in frames)
    assert abs(len(frames) * FRAME_MS - len(pcm) * 1000 / rate) <= FRAME_MS
    audio = mulaw_decode(b"".join(frames))
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 1000  # speech, not silence


def test_iter_phone_frames_streams_a_reply_a_sentence_at_a_time(speaker: Speaker) -> None:
    text = "I found three trainers. Want details on one?"
    chunks = speaker.iter_phone_frames(text)
    started = time.perf_counter()
    first = next(chunks)
    first_s = time.perf_counter() - started
    rest = list(chunks)
    assert len(rest) == 1  # two sentences, two chunks
    assert all(len(frame) == FRAME_SAMPLES for frame in first + rest[0])
    whole = speaker.phone_frames(text)
    assert abs(len(first) + len(rest[0]) - len(whole)) <= 1  # the same audio, split at the sentence
    assert first_s < len(first) * FRAME_MS / 1000  # the first sentence is ready before it has played


def test_piper_speaks_faster_than_real_time_on_one_thread() -> None:
    one_core = Speaker(TtsConfig(threads=1))
    one_core.synthesize("Warm up.")
    started = time.perf_counter()
    pcm, rate = one_core.synthesize("I found three: Nike trainers for 29 dollars 99, and two more.")
    assert time.perf_counter() - started < len(pcm) / rate


# --- speech to text ----------------------------------------------------------------------------------


def test_whisper_gets_the_words_back_through_a_phone_line(speaker: Speaker, transcriber: Transcriber) -> None:
    result = transcriber.transcribe(on_the_phone(speaker, "I found three trainers."), PHONE_RATE)
    words = normalise_transcript(result.text).split()
    assert "3" in words and ("trainers" in words or "trainer" in words), result.text
    assert result.no_speech_prob < 0.3 and result.avg_logprob > -0.5
    assert 1.0 < result.audio_seconds < 3.0


def test_whisper_reads_audio_at_any_rate(speaker: Speaker, transcriber: Transcriber) -> None:
    pcm, rate = speaker.synthesize("Size ten, please.")  # 22.05 kHz, resampled inside
    assert normalise_transcript(transcriber.transcribe(pcm, rate).text) == "size 10 please"


def test_hints_reach_the_recogniser(speaker: Speaker, transcriber: Transcriber) -> None:
    """tiny.en hears "think the jomas" on the phone; with the catalog's word it writes "pyjamas"."""
    audio = on_the_phone(speaker, "Pink pyjamas for a five year old girl.")
    hinted = transcriber.transcribe(audio, PHONE_RATE, hints=["trainers", "pyjamas", "hoodie"])
    assert "pyjama" in hinted.text.lower()


def test_silence_is_empty_at_once(transcriber: Transcriber) -> None:
    for quiet in (np.zeros(PHONE_RATE, dtype=np.int16), np.zeros(0, dtype=np.int16)):
        result = transcriber.transcribe(quiet, PHONE_RATE)
        assert result.text == "" and result.seconds < 0.05  # the model never ran


def test_a_noise_burst_is_not_taken_for_words(transcriber: Transcriber) -> None:
    """Whisper reads a 200 ms thump as "Thank you."; the caller said nothing."""
    rng = np.random.default_rng(0)
    thump = rng.normal(0, 5000, 1600) * np.exp(-np.arange(1600) / 300)
    audio = np.concatenate([thump, np.zeros(6400)]).astype(np.int16)
    assert transcriber.transcribe(audio, PHONE_RATE).text == ""


@pytest.mark.parametrize(
    ("text", "no_speech", "logprob", "kept"),
    [
        ("Thank you.", 0.77, -0.6, ""),  # noise read as a subtitle
        ("Thank you.", 0.08, -0.07, "Thank you."),  # a caller saying it
        ("[BLANK_AUDIO]", 0.5, -0.5, ""),
        ("(coughs) a blue hoodie", 0.1, -0.3, "a blue hoodie"),
        ("You", 0.92, -1.9, ""),  # Whisper's own silence rule
        ("size ten", 0.65, -0.4, "size ten"),  # unsure there was speech, but a sure decoding
    ],
)
def test_clean_text_drops_what_whisper_makes_up(
    text: str, no_speech: float, logprob: float, kept: str
) -> None:
    assert clean_text(text, no_speech, logprob, SttConfig()) == kept


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add two pairs of socks to my cart. Add two pair of socks", "Add two pairs of socks to my cart."),
        (
            "a blue hoodie and sized medium, a blue, hoodie, and sized, medium,",
            "a blue hoodie and sized medium",
        ),
        ("Show me a red dress for my wife. Show me your red dress, for my life. Show me a red", None),
        ("for my for my son", "for my for my son"),  # a stutter, not a restart: normalise_transcript's job
        ("No, no.", "No, no."),
        ("I need size ten or size twelve", "I need size ten or size twelve"),
    ],
)
def test_drop_restatements_cuts_whisper_starting_over(text: str, expected: str) -> None:
    assert drop_restatements(text) == (expected or "Show me a red dress for my wife.")


def test_encoder_window_is_the_audio_plus_padding_in_whole_seconds() -> None:
    config = SttConfig(window_padding_s=6.0, min_window_s=8.0)
    assert encoder_frames(150, config) == 800  # 1.5 s of audio: the 8 s minimum
    assert encoder_frames(450, config) == 1100  # 4.5 s + 6 s, rounded up
    assert encoder_frames(2900, config) == 3000  # never past Whisper's 30 s


def test_hints_are_deduplicated_capped_and_formatted() -> None:
    hints = ["boots", " boots ", "", "scarf", "mug", "vase"]
    assert hint_arguments(hints, SttConfig(max_hints=3)) == (
        None,
        "A shopper on the phone asks about boots, scarf, mug.",
    )
    assert hint_arguments(hints, SttConfig(max_hints=2, hint_mode="hotwords")) == ("boots, scarf", None)
    assert hint_arguments(hints, SttConfig(hint_mode="none")) == (None, None)
    assert hint_arguments([], SttConfig()) == (None, None)


# --- the transcription CLI ---------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voice.transcribe", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_one_json_object_per_file(tmp_path: Path, speaker: Speaker) -> None:
    pcm, rate = speaker.synthesize("I found three trainers.")
    write_wav(tmp_path / "reply.wav", pcm, rate)
    done = run_cli(str(tmp_path / "reply.wav"), "--phone", "--hints", "trainers,boots")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["file"] == str(tmp_path / "reply.wav")
    assert "trainer" in record["text"].lower()
    assert 0 < record["seconds"] < 10


def test_cli_fails_clearly_for_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("not audio")
    done = run_cli(str(tmp_path / "missing.wav"), str(tmp_path / "notes.wav"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "missing.wav: no such file" in done.stderr
    assert "notes.wav: not a readable WAV file" in done.stderr


# --- what the caller hears ---------------------------------------------------------------------------


def card(
    title: str, price: float, colour: str = "", position: int = 1, note: str = "in stock"
) -> Dict[str, Any]:
    """A product card as actions/payloads.py builds it."""
    return {
        "id": f"P{position:05d}",
        "title": title,
        "price": price,
        "currency": "USD",
        "brand": title.split()[0],
        "attributes": {"colour": colour or None, "sizes": "7, 8, 9"},
        "in_stock": note != "out of stock",
        "stock_note": note,
        "image": None,
        "position": position,
    }


def listing(intro: str, products: List[Dict[str, Any]], closing: str = "") -> List[Dict[str, Any]]:
    """One bot turn listing products, as the REST webhook returns it: the text, then the cards."""
    lines = [
        f"{p['position']}. {p['title']} - ${p['price']:.2f} (for men, rated 4.5/5) - in stock"
        for p in products
    ]
    text = "\n".join(part for part in (intro, *lines, closing) if part)
    buttons = [{"title": "Show more", "payload": "/show_more"}]
    custom = {"type": "product_cards", "intro": intro, "closing": closing, "products": products}
    return [{"recipient_id": "c", "text": text, "buttons": buttons}, {"recipient_id": "c", "custom": custom}]


TRAINERS = [
    card("Nike Men's Running Trainers - Black", 29.99, "black", 1),
    card("Adidas Kids' Trainers - Black", 30.0, "black", 2, "only 2 left"),
    card("Puma Trainers - Black", 45.5, "black", 3),
    card("Converse Trainers - Black", 55.0, "black", 4),
]


def test_a_product_list_is_read_as_three_short_names_with_prices() -> None:
    said = for_the_ear(listing("Here's what I found for trainers under $50:", TRAINERS))
    assert said == (
        "For trainers under 50 dollars, I found four: Nike Men's Running Trainers for 29 dollars 99, "
        "Adidas Kids' Trainers for 30 dollars, only 2 left, Puma Trainers for 45 dollars 50, and one more. "
        "Want details on one?"
    )


def test_colours_are_said_only_when_they_tell_products_apart() -> None:
    pair = [card("Nike Trainers - Black", 29.99, "black", 1), card("Nike Trainers - Blue", 29.99, "blue", 2)]
    said = for_the_ear(listing("", pair))
    assert "I found two: Nike Trainers in black for 29 dollars 99 and Nike Trainers in blue" in said
    assert "Black" not in said and "- " not in said


def test_a_list_keeps_the_intros_news_and_the_closing_question() -> None:
    intro = (
        "I took “trainrs” to mean trainers. I couldn't find blue trainers with everything you asked for, "
        "so I dropped the colour blue. Here are the closest matches:"
    )
    closing = "Any of these can be gift-wrapped. Would you like gift wrap?"
    turn = listing(intro, TRAINERS[:2], closing)
    turn[0]["buttons"] = [
        {"title": "Yes, gift wrap", "payload": "/affirm"},
        {"title": "No thanks", "payload": "/deny"},
        {"title": "Show more", "payload": "/show_more"},
    ]
    said = for_the_ear(turn)
    assert said.startswith("I took trainrs to mean trainers. I couldn't find blue trainers")
    assert "Here are the closest matches: Nike Men's Running Trainers for 29 dollars 99 and Adidas" in said
    assert said.endswith("Would you like gift wrap? You can say yes or no.")
    assert "Want details" not in said  # one question at a time


def test_nothing_screen_only_is_read_out() -> None:
    said = for_the_ear(
        listing("Here's what I found for socks:", [card("Urban Thread Socks (Edition 3)", 6.99)])
    )
    for screen_only in ("1.", "$", "/5", "(", "Edition", "Show more", "rated"):
        assert screen_only not in said
    assert said == "For socks, I found one: Urban Thread Socks for 6 dollars 99. Want details?"


def test_a_comparison_names_the_products_and_gives_the_verdict_not_the_table() -> None:
    verdict = "#1 is cheaper ($20 vs $34); #2 is better rated (4.5/5 vs 3.9/5)."
    custom = {
        "type": "comparison",
        "intro": "#1 Nike Trainers - Black vs #2 Adidas Trainers - Blue",
        "products": [
            {"id": "a", "title": "Nike Trainers - Black", "position": 1},
            {"id": "b", "title": "Adidas Trainers - Blue", "position": 2},
        ],
        "rows": [{"attribute": "price", "values": ["$20.00", "$34.00"]}],
        "verdict": verdict,
    }
    text = "#1 Nike Trainers - Black vs #2 Adidas Trainers - Blue\n- price: $20.00 | $34.00\n" + verdict
    said = for_the_ear([{"text": text}, {"custom": custom}])
    assert said == (
        "Comparing number 1, Nike Trainers in black and number 2, Adidas Trainers in blue. Number 1 is "
        "cheaper, 20 dollars versus 34 dollars; number 2 is better rated, 4.5 out of 5 versus 3.9 out of 5."
    )


def test_product_details_are_read_in_full_without_the_stock_table() -> None:
    details = (
        "Nike Trainers - Black by Nike: $29.99, rated 4.5/5.\nLight mesh runners. More at https://shop.example/p1\n"
        "Sizes and stock: 8 (3), 9 (out), 10 (5)."
    )
    cards = {
        "type": "product_cards",
        "intro": details,
        "closing": "",
        "products": [card("Nike Trainers - Black", 29.99, "black")],
    }
    offer = {
        "text": "Shall I add it to your cart?",
        "buttons": [
            {"title": "Add to cart", "payload": "/affirm"},
            {"title": "No thanks", "payload": "/deny"},
        ],
    }
    said = for_the_ear([{"text": details}, {"custom": cards}, offer])
    assert "29 dollars 99, rated 4.5 out of 5" in said
    assert "Light mesh runners." in said and "http" not in said and "shop.example" not in said
    assert "In stock in sizes 8 and 10." in said
    assert said.endswith("Shall I add it to your cart? You can say yes or no.")


BUDGET_BUTTONS = [{"title": t, "payload": "/x"} for t in ("Jewellery", "Beauty", "Under $30")]
TEXTS_FOR_THE_EAR = [
    (
        {
            "text": "Happy to help! What does she like? Pick one below, or tell me a budget.",
            "buttons": BUDGET_BUTTONS,
        },
        "Happy to help! What does she like? Say jewellery, beauty, or under 30 dollars, or tell me a budget.",
    ),
    (
        {
            "text": "Okay. Want to see similar items or search for something else?",
            "buttons": [{"title": "Similar items", "payload": "/similar_items"}],
        },
        "Okay. Want to see similar items or search for something else?",  # no yes/no: nothing added
    ),
    (
        {
            "text": 'What do you want? Pick a department below, or tell me the product (e.g. "mugs").',
            "buttons": [{"title": "Toys", "payload": "/x"}, {"title": "Gadgets", "payload": "/x"}],
        },
        "What do you want? Say toys or gadgets, or tell me the product, for example mugs.",
    ),
    (
        {"text": "I only showed 3 results. Which one did you mean (1-3)?"},
        "I only showed 3 results. Which one did you mean, 1 to 3?",
    ),
    ({"text": "**Great!** 🎉 See [our offers](https://x.example/o)."}, "Great! See our offers."),
    (
        {"text": "Added 2 x Nike Trainers (size 9) to your cart. You have 2 items, $1,059.98 in total."},
        "Added 2 Nike Trainers, size 9, to your cart. You have 2 items, 1059 dollars 98 in total.",
    ),
]


@pytest.mark.parametrize(("message", "expected"), TEXTS_FOR_THE_EAR)
def test_texts_and_buttons_for_the_ear(message: Dict[str, Any], expected: str) -> None:
    assert for_the_ear([message]) == expected


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (29.99, "29 dollars 99"),
        (30, "30 dollars"),
        (1, "1 dollar"),
        (1.05, "1 dollar and 5 cents"),
        (0.5, "50 cents"),
        (1299.9, "1299 dollars 90"),
    ],
)
def test_prices_are_said_as_money(amount: float, said: str) -> None:
    assert spoken_price(amount) == said


# --- what the NLU reads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        ("Um, I need, uh, running shoes, size ten for my son.", "i need running shoes size 10 for my son"),
        ("I I need a hoodie.", "i need a hoodie"),
        ("For my, for my son.", "for my son"),
        ("I wa- I want the blue one.", "i want the blue one"),
        ("I need, like, a hoodie under like fifty dollars.", "i need a hoodie under 50 dollars"),
        ("I like red trainers.", "i like red trainers"),
        ("A smartphone for, I mean, my dad.", "a smartphone for my dad"),
        ("Well, can you help me?", "can you help me"),
        ("So, a play tent for kids.", "a play tent for kids"),
        ("So I need boots.", "so i need boots"),
        ("Um like a Lego set for a seven year old.", "a lego set for a 7 year old"),
        ("Fifty dollars.", "50 dollars"),
        ("Something around a hundred and twenty.", "something around 120"),
        ("A ten year old boy.", "a 10 year old boy"),
        ("My 10-year-old daughter.", "my 10 year old daughter"),
        ("Under $50, please.", "under $50 please"),
        ("Is it $29.99?", "is it $29.99"),
        ("Compare the first two.", "compare the first 2"),
        ("Compare the two of them.", "compare the two of them"),
        ("Which one is cheaper?", "which one is cheaper"),
        ("Is the second one in stock in size eight?", "is the second one in stock in size 8"),
        ("One pair of socks.", "1 pair of socks"),
        ("Do you have it in size one?", "do you have it in size 1"),
        ("Twenty-five dollars.", "25 dollars"),
        ("Fifteen hundred dollars.", "1500 dollars"),
        ("Two thousand five hundred.", "2500"),
        ("Under twenty nine ninety nine.", "under 29.99"),
        ("Twenty nine dollars ninety nine.", "29.99 dollars"),
        ("Size nine and a half.", "size 9.5"),
        ("Uh, three pairs of socks.", "3 pairs of socks"),
        ("A couple of T-shirts.", "a couple of t-shirts"),
        ("No, no, no.", "no"),
        ("That's it, thanks!", "that's it thanks"),
        ("No one else.", "no one else"),
        ("", ""),
    ],
)
def test_normalise_transcript_gives_what_the_nlu_reads(transcript: str, expected: str) -> None:
    assert normalise_transcript(transcript) == expected
