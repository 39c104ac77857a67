"""The joint model below Rasa: word/subword alignment, BIO decoding, edge-case messages, determinism.

A tiny model (a few dozen examples, 2 epochs, max length 24) is trained once per module; the
assertions are about what a shopper would notice (spans that cover the right characters, no entity
invented from emoji or gibberish, the same answer every time for the same seed).
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

import pytest
import torch
from transformers import AutoTokenizer

from common.schema import DEFAULT_ATTRIBUTES
from nlu.component import default_encoder_path
from nlu.encoder import Encoder
from nlu.labels import Example, entity_types_per_intent, keep_entities_for_intent, tag_labels_for
from nlu.modeling_joint import BIOTagCRF, JointShoppingConfig, JointShoppingModel, bio_transition_mask
from nlu.prediction import constrained_word_tags, decode_word_tags, predict, tagging_confidence
from nlu.training import class_weights, train_model
from nlu.words import pre_tokenize, spans_to_word_tags, word_tags_to_spans

# (text, intent, [(entity text, type)], attributes)
RAW: List[Tuple[str, str, List[Tuple[str, str]], Dict[str, str]]] = [
    (
        "bday present for my 10yo son",
        "search_product",
        [("10", "age"), ("son", "recipient")],
        {"gender": "male", "age_group": "kid", "gift": "true"},
    ),
    (
        "red nike running shoes under $30",
        "search_product",
        [("red", "color"), ("nike", "brand"), ("running shoes", "product_type"), ("$30", "price")],
        {},
    ),
    (
        "a gift for my wife, size m",
        "search_product",
        [("wife", "recipient"), ("m", "size")],
        {"gender": "female", "age_group": "adult", "gift": "true"},
    ),
    (
        "blue dress for my daughter",
        "search_product",
        [("blue", "color"), ("dress", "product_type"), ("daughter", "recipient")],
        {"gender": "female"},
    ),
    ("cheaper please", "refine_search", [], {}),
    ("in green instead", "refine_search", [("green", "color")], {}),
    ("hello", "greet", [], {}),
    ("hi there", "greet", [], {}),
    ("bye", "goodbye", [], {}),
    ("thanks a lot", "thanks", [], {}),
    ("baby crib for a newborn", "search_product", [("crib", "product_type")], {"age_group": "baby"}),
    ("adidas backpack", "search_product", [("adidas", "brand"), ("backpack", "product_type")], {}),
]


def _example(text: str, intent: str, spans: List[Tuple[str, str]], attributes: Dict[str, str]) -> Example:
    entities = []
    for value, entity in spans:
        start = text.index(value)
        entities.append((start, start + len(value), entity))
    return Example(text, intent, entities, attributes)


EXAMPLES = [_example(*row) for row in RAW] * 3
ENTITY_TYPES = sorted({entity for _, _, spans, _ in RAW for _, entity in spans})


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)


def _train(tokenizer, seed: int) -> JointShoppingModel:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    config = JointShoppingConfig(
        encoder_path=default_encoder_path(),
        intent_labels=sorted({row[1] for row in RAW}),
        tag_labels=tag_labels_for(ENTITY_TYPES),
        attributes={k: list(v) for k, v in DEFAULT_ATTRIBUTES.items()},
        max_length=24,
    )
    model = JointShoppingModel(config)
    train_model(
        model,
        Encoder(tokenizer, 24),
        EXAMPLES,
        epochs=2,
        batch_size=12,
        learning_rate=1e-4,
        seed=seed,
        show_progress=False,
    )
    return model


@pytest.fixture(scope="module")
def trained(tokenizer) -> JointShoppingModel:
    return _train(tokenizer, seed=7)


def test_pre_tokenize_splits_digits_letters_and_punctuation_with_offsets() -> None:
    text = "10yo son's $30-40!"
    words = pre_tokenize(text)
    assert [w.text for w in words] == ["10", "yo", "son", "'", "s", "$", "30", "-", "40", "!"]
    assert all(text[w.start : w.end] == w.text for w in words)
    assert len(pre_tokenize("shoes " * 5000, max_words=48)) == 48


def test_bio_round_trip_recovers_character_spans_through_punctuation() -> None:
    text = "red nike running shoes under $30, for my 10yo"
    spans = [(0, 3, "color"), (4, 8, "brand"), (9, 22, "product_type"), (29, 32, "price"), (41, 43, "age")]
    words = pre_tokenize(text)
    tags = spans_to_word_tags(words, spans)
    assert tags[:4] == ["B-color", "B-brand", "B-product_type", "I-product_type"]
    assert tags[5:7] == ["B-price", "I-price"]  # "$" and "30"
    decoded = word_tags_to_spans(text, words, tags)
    assert [(s["start"], s["end"], s["entity"]) for s in decoded] == spans
    assert [s["value"] for s in decoded] == ["red", "nike", "running shoes", "$30", "10"]


def test_decoding_breaks_on_type_change_and_untokenised_words() -> None:
    text = "blue nike hat"
    words = pre_tokenize(text)
    spans = word_tags_to_spans(text, words, ["B-color", "I-brand", None], [0.9, 0.5, 0.0])
    assert [(s["value"], s["entity"]) for s in spans] == [("blue", "color"), ("nike", "brand")]
    assert spans[0]["confidence_entity"] == pytest.approx(0.9)


TAGS = tag_labels_for(["occasion", "recipient"])


def _probs(rows: List[Dict[str, float]]) -> torch.Tensor:
    """Per-word tag probabilities from {tag: p}; the rest of each row's mass is spread evenly."""
    probs_wt = torch.zeros(len(rows), len(TAGS))
    for word, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (len(TAGS) - len(row))
        probs_wt[word] = torch.tensor([row.get(tag, rest) for tag in TAGS])
    return probs_wt


def _softmax_decoder(constrained: bool):
    def decode(logits_wt: torch.Tensor):
        probs_wt = logits_wt.softmax(dim=-1)
        if constrained:
            ids = constrained_word_tags(probs_wt.log(), TAGS, bio_transition_mask(TAGS))
        else:
            ids = [int(t) for t in probs_wt.argmax(dim=-1)]
        return ids, [float(probs_wt[w, t]) for w, t in enumerate(ids)]

    return decode


def test_constrained_decoding_keeps_a_span_whole_where_argmax_splits_it() -> None:
    # "mother ' s day": argmax per word reads B-recipient I-occasion I-occasion I-occasion, which the
    # greedy decoder turns into "mother" (recipient) + "'s day" (occasion). The best valid BIO path is
    # one occasion span.
    logits_wt = _probs(
        [
            {"B-recipient": 0.5, "B-occasion": 0.45},
            {"I-occasion": 0.9},
            {"I-occasion": 0.9},
            {"I-occasion": 0.9},
        ]
    ).log()
    greedy, _ = decode_word_tags(logits_wt, [0, 1, 2, 3], TAGS, _softmax_decoder(False))
    best, _ = decode_word_tags(logits_wt, [0, 1, 2, 3], TAGS, _softmax_decoder(True))
    assert greedy == ["B-recipient", "I-occasion", "I-occasion", "I-occasion"]
    assert best == ["B-occasion", "I-occasion", "I-occasion", "I-occasion"]


def test_constrained_decoding_never_starts_a_span_with_inside_tag() -> None:
    path = constrained_word_tags(_probs([{"I-recipient": 0.6, "B-recipient": 0.3}]).log(), TAGS)
    assert TAGS[path[0]] == "B-recipient"


def test_untokenised_word_is_a_hard_boundary_for_decoding() -> None:
    logits_wt = _probs([{"B-occasion": 0.9}, {"I-occasion": 0.6, "B-occasion": 0.3}]).log()
    tags, confidences = decode_word_tags(logits_wt, [0, -1, 1], TAGS, _softmax_decoder(True))
    assert tags == ["B-occasion", None, "B-occasion"]
    assert confidences[1] == 0.0


def _random_crf(seed: int) -> BIOTagCRF:
    torch.manual_seed(seed)
    crf = BIOTagCRF(TAGS)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    return crf


def _is_valid_bio(tags: List[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_tagging_confidence_is_the_geometric_mean_of_every_words_tag_probability() -> None:
    assert tagging_confidence([0.9, 0.4]) == pytest.approx(0.6)  # sqrt(0.9 * 0.4)
    # length-normalised: a long sure query is not doubted for its length
    assert tagging_confidence([0.9] * 8) == pytest.approx(tagging_confidence([0.9] * 2))
    # one word the tagger hesitated on (an O that was nearly a product) pulls the reading down
    assert tagging_confidence([0.99, 0.99, 0.3]) < tagging_confidence([0.99, 0.99, 0.99])
    assert tagging_confidence([]) == 1.0 and tagging_confidence([0.0]) == pytest.approx(0.0, abs=1e-9)


def test_crf_likelihood_matches_brute_force_over_all_tag_sequences() -> None:
    import itertools

    crf = _random_crf(0).requires_grad_(False)
    emissions_wt = torch.randn(3, len(TAGS))
    gold = [TAGS.index("B-occasion"), TAGS.index("I-occasion"), TAGS.index("O")]

    def path_score(path) -> torch.Tensor:
        score = crf._start()[path[0]] + emissions_wt[0, path[0]] + crf.end_t[path[-1]]
        for w in range(1, len(path)):
            score = score + crf._transitions()[path[w - 1], path[w]] + emissions_wt[w, path[w]]
        return score

    all_paths = list(itertools.product(range(len(TAGS)), repeat=3))
    log_z = torch.logsumexp(torch.stack([path_score(p) for p in all_paths]), dim=0)
    nll = crf.negative_log_likelihood(
        emissions_wt.unsqueeze(0), torch.tensor([gold]), torch.ones(1, 3, dtype=torch.bool)
    )
    assert float(nll) == pytest.approx(float(log_z - path_score(gold)), abs=1e-4)
    # Viterbi finds the highest-scoring path, which is always valid BIO.
    best, confidences = crf.decode(emissions_wt)
    assert best == list(max(all_paths, key=lambda p: float(path_score(p))))
    assert _is_valid_bio([TAGS[t] for t in best])
    assert all(0.0 < c <= 1.0 for c in confidences)
    assert crf.marginals(emissions_wt).sum(dim=1) == pytest.approx(torch.ones(3), abs=1e-4)


def _spans_of(tags: List[str]) -> Set[Tuple[int, int, str]]:
    """(first word, last word, type) of each span of a valid BIO sequence."""
    spans, start = set(), None
    for word, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == tags[start][2:]):
            spans.add((start, word - 1, tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = word
    return spans


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_span_s_confidence_is_the_probability_of_exactly_that_span(seed: int) -> None:
    """Brute force over every tag sequence: a span word's confidence is p(this exact span), which a
    longer or shorter span does not count toward; an O word's is its marginal."""
    import itertools

    crf = _random_crf(seed).requires_grad_(False)
    torch.manual_seed(100 + seed)
    emissions_wt = torch.randn(4, len(TAGS)) * 2
    emissions_wt[0, TAGS.index("B-occasion")] += 4  # make sure the best path holds a span
    temperature = 1.3

    def path_score(path) -> torch.Tensor:
        score = crf._start()[path[0]] + emissions_wt[0, path[0]] + crf.end_t[path[-1]]
        for w in range(1, len(path)):
            score = score + crf._transitions()[path[w - 1], path[w]] + emissions_wt[w, path[w]]
        return score / temperature

    all_paths = list(itertools.product(range(len(TAGS)), repeat=4))
    scores = torch.stack([path_score(p) for p in all_paths])
    probabilities = (scores - torch.logsumexp(scores, dim=0)).exp()
    best, confidences = crf.decode(emissions_wt, temperature)
    best_tags = [TAGS[t] for t in best]
    spans = _spans_of(best_tags)
    assert spans, best_tags
    marginals_wt = crf.marginals(emissions_wt, temperature)
    for first, last, kind in spans:
        tagged = [[TAGS[t] for t in path] for path in all_paths]
        exact = sum(
            float(p)
            for tags, p in zip(tagged, probabilities, strict=True)
            if _is_valid_bio(tags) and (first, last, kind) in _spans_of(tags)
        )
        for word in range(first, last + 1):
            assert confidences[word] == pytest.approx(exact, abs=1e-4)
            assert confidences[word] <= float(marginals_wt[word, best[word]]) + 1e-6
    for word, tag in enumerate(best_tags):
        if tag == "O":
            assert confidences[word] == pytest.approx(float(marginals_wt[word, best[word]]), abs=1e-5)


def test_crf_padding_does_not_change_a_sequence_likelihood() -> None:
    crf = _random_crf(1).requires_grad_(False)
    emissions_wt = torch.randn(2, len(TAGS))
    tags = [TAGS.index("B-recipient"), TAGS.index("O")]
    alone = crf.negative_log_likelihood(
        emissions_wt.unsqueeze(0), torch.tensor([tags]), torch.ones(1, 2, dtype=torch.bool)
    )
    padded = torch.cat([emissions_wt, torch.randn(3, len(TAGS))]).unsqueeze(0)
    with_padding = crf.negative_log_likelihood(
        padded, torch.tensor([tags + [0, 0, 0]]), torch.tensor([[True, True, False, False, False]])
    )
    assert float(with_padding) == pytest.approx(float(alone), abs=1e-4)


def test_intent_without_entities_in_training_yields_none() -> None:
    examples = [
        Example("red shoes", "search_product", [(0, 3, "color"), (4, 9, "product_type")]),
        Example("in blue", "refine_search", [(3, 7, "color")]),
        Example("what's the wifi password", "out_of_scope", []),
    ]
    per_intent = entity_types_per_intent(examples)
    assert per_intent == {
        "out_of_scope": [],
        "refine_search": ["color"],
        "search_product": ["color", "product_type"],
    }
    wifi = [{"entity": "product_type", "start": 11, "end": 15, "value": "wifi"}]
    assert keep_entities_for_intent(wifi, "out_of_scope", per_intent) == []
    assert keep_entities_for_intent(wifi, "search_product", per_intent) == wifi
    assert keep_entities_for_intent(wifi, "refine_search", per_intent) == []
    assert keep_entities_for_intent(wifi, "intent_unknown_to_training", per_intent) == wifi
    assert keep_entities_for_intent(wifi, "out_of_scope", {}) == wifi  # archives from before this rule


def test_subword_alignment_labels_only_first_subword(tokenizer) -> None:
    encoder = Encoder(tokenizer, max_length=32)
    tensors, words, first = encoder.encode(["skechers sneakers"])
    tokens = tokenizer.convert_ids_to_tokens(tensors["input_ids"][0].tolist())
    assert [w.text for w in words[0]] == ["skechers", "sneakers"]
    # Each word points at the token that starts it; continuation pieces ("##...") are never pointed at.
    assert all(not tokens[p].startswith("##") for p in first[0])
    assert first[0][0] == 1 and first[0][1] > first[0][0]


def test_encoder_truncates_long_messages_to_max_length(tokenizer) -> None:
    tensors, _, first = Encoder(tokenizer, max_length=24).encode(["red shoes " * 1000])
    assert tensors["input_ids"].shape[1] == 24
    assert max(first[0]) < 24


def test_class_weights_favour_rare_labels() -> None:
    weights = class_weights([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], num_classes=3)
    assert weights[1] > weights[0]
    assert weights[2] == 1.0  # unseen class: neutral weight


def test_trained_model_finds_spans_and_attributes(trained, tokenizer) -> None:
    (prediction,) = predict(trained, Encoder(tokenizer, 24), ["red nike running shoes under $30"])
    assert prediction.intent_ranking[0][0] == "search_product"
    found = {(e["value"], e["entity"]) for e in prediction.entities}
    assert ("nike", "brand") in found
    assert set(prediction.attributes) == set(DEFAULT_ATTRIBUTES)
    assert all(0.0 <= reading.confidence <= 1.0 for reading in prediction.attributes.values())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \t\n ",
        "😀🎁🛍️😀",
        "\x00\x07\x1b[31m\x7f",
        "жёлтые ботинки для сына",
        "送给儿子的生日礼物",
        "z" * 10_000,
        "🎁" * 10_000,
    ],
)
def test_edge_case_messages_invent_nothing(trained, tokenizer, text: str) -> None:
    (prediction,) = predict(trained, Encoder(tokenizer, 24), [text])
    assert prediction.entities == []
    assert prediction.intent_ranking and 0.0 <= prediction.intent_ranking[0][1] <= 1.0
    if not text.startswith("z"):  # nothing the English encoder can read: neutral attributes
        assert prediction.attributes["gender"].value == "unknown"
        assert prediction.attributes["age_group"].value == "unknown"
        assert prediction.attributes["gift"].value == "false"


def test_same_seed_gives_same_weights_and_prediction(trained, tokenizer) -> None:
    again = _train(tokenizer, seed=7)
    for (name, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    encoder = Encoder(tokenizer, 24)
    text = ["a gift for my wife, size m"]
    assert predict(trained, encoder, text) == predict(again, encoder, text)


def test_frozen_word_embeddings_stay_pretrained_while_the_rest_learns(tokenizer) -> None:
    torch.manual_seed(3)
    config = JointShoppingConfig(
        encoder_path=default_encoder_path(),
        intent_labels=sorted({row[1] for row in RAW}),
        tag_labels=tag_labels_for(ENTITY_TYPES),
        max_length=24,
    )
    model = JointShoppingModel(config)
    embeddings = model.encoder.get_input_embeddings().weight.detach().clone()
    first_layer = next(model.encoder.encoder.parameters()).detach().clone()
    train_model(model, Encoder(tokenizer, 24), EXAMPLES[:12], epochs=1, batch_size=6, learning_rate=1e-4,
                seed=3, show_progress=False, freeze_word_embeddings=True)
    assert torch.equal(model.encoder.get_input_embeddings().weight, embeddings)
    assert not torch.equal(next(model.encoder.encoder.parameters()), first_layer)
