import random

import pytest

from pipeline.bootstrap.skills import ZERO_PASS_MAX
from pipeline.bootstrap.top_up import (
    LR_FLOOR,
    accepted,
    aim,
    chunk_rows,
    distance,
    fresh_rows,
    next_lr,
    overshot,
    to_train,
    top_up,
)


def rows(per_category: dict[str, int]) -> list[dict]:
    return [{"item_id": f"{cat}-{i}", "image_id": f"{cat}-{i}", "category": cat, "answer": "1"}
            for cat, n in per_category.items() for i in range(n)]


def test_top_up_examples_are_the_rows_the_warm_up_left_unused():
    corpus = rows({"text": 50, "colour": 50})
    used = {f"text-{i}" for i in range(10)}
    fresh = fresh_rows(corpus, used, ["text"], seed=0)
    ids = [r["item_id"] for queue in fresh["text"].values() for r in queue]
    assert len(ids) == len(set(ids)) == 40 and not set(ids) & used
    assert fresh_rows(corpus, used, ["text"], seed=0) == fresh  # seeded
    with pytest.raises(ValueError, match=r"\['ocr'\]"):
        fresh_rows(corpus, used, ["ocr"], seed=0)


def test_each_chunk_teaches_a_category_s_answers_equally_often():
    corpus = [{"item_id": f"text-{i}", "category": "text", "answer": "abc"[min(i % 10, 2)]} for i in range(60)]
    fresh = fresh_rows(corpus, set(), ["text"], seed=0)  # 48 of answer c, 6 each of a and b
    replay = rows({"colour": 30})
    chunk = [r["answer"] for r in chunk_rows(fresh, ["text"], replay, 12, random.Random(0)) if r["category"] == "text"]
    assert sorted(chunk) == ["a", "a", "b", "b", "c", "c"]


def test_an_aimed_chunk_leans_to_the_answers_the_model_gives_too_rarely():
    corpus = [{"item_id": f"text-{i}", "category": "text", "answer": "abc"[i % 3]} for i in range(90)]
    fresh = fresh_rows(corpus, set(), ["text"], seed=0)
    aims = {"text": aim({"a": 0.5, "b": 0.0, "c": 0.5})}  # the model never answers b
    assert aims["text"]["b"] > 0.5 > aims["text"]["a"] == aims["text"]["c"]
    chunk = [r["answer"] for r in chunk_rows(fresh, ["text"], [], 12, random.Random(0), aims)]
    assert sorted(chunk) == ["a", "a"] + ["b"] * 8 + ["c", "c"]  # 12 split 1/6, 2/3, 1/6
    assert aim({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == pytest.approx(dict.fromkeys("abc", 1 / 3))  # even stays even
    assert aim({"a": 1.0, "b": 0.0, "c": 0.0}) == {"a": 0.0, "b": 0.5, "c": 0.5}  # collapsed: only the others
    assert chunk_rows(fresh, ["text"], [], 60, random.Random(0), aims) is None  # 40 b rows wanted, 22 left


def test_chunks_mix_fresh_weak_rows_with_replay_and_never_reuse_them():
    fresh = {"a": {"1": rows({"a": 10})}, "b": {"1": rows({"b": 10})}}
    replay = rows({"colour": 30})
    rng = random.Random(0)
    first = chunk_rows(fresh, ["a", "b"], replay, 8, rng)
    cats = [r["category"] for r in first]
    assert cats.count("a") == cats.count("b") == 2 and cats.count("colour") == 4
    second = chunk_rows(fresh, ["a", "b"], replay, 8, rng)
    weak_ids = [r["item_id"] for r in first + second if r["category"] != "colour"]
    assert len(weak_ids) == len(set(weak_ids)) == 8
    assert len(fresh["a"]["1"]) == len(fresh["b"]["1"]) == 6
    assert chunk_rows(fresh, ["a"], replay, 16, rng) is None  # 8 fresh rows wanted, 6 left


def skill_profile(norm: dict[str, float], zero: dict[str, float], top_share: float = 0.3, k: int = 4) -> dict:
    return {"normalised_accuracy": norm, "answer_space": {c: k for c in norm},
            "top_answer_share": {c: top_share for c in norm}, "zero_pass_share": zero}


def test_to_train_names_the_categories_another_chunk_can_move_deeper_into_the_profile():
    # window [0.15, 0.45] chance-normalised, zero-pass share <= ZERO_PASS_MAX; stop margin 0.05
    cats = ["a", "b", "c", "d", "e"]
    norm = {"a": 0.17, "b": 0.30, "c": 0.43, "d": 0.30, "e": 0.5}
    zero = {"a": 0.1, "b": ZERO_PASS_MAX - 0.02, "c": 0.1, "d": 0.1, "e": 0.1}
    # a: near the floor; b: at its target but too many items with no right sampled answer; c: near the top (more
    # training only leaves the window); d: well inside; e: above the window
    assert to_train(skill_profile(norm, zero), cats) == ["a", "b"]
    # one category outside the profile (below its floor) is trained alone, before those inside are polished
    assert to_train(skill_profile(norm | {"b": 0.1}, zero), cats) == ["b"]
    assert to_train(skill_profile(norm | {"a": 0.1, "b": 0.12}, zero), cats) == ["a", "b"]
    assert to_train(skill_profile({"a": 0.3}, {"a": 0.1}), ["a"]) == []  # well inside: stop
    assert to_train(skill_profile({"a": 0.3}, {"a": 0.1}, top_share=0.6), ["a"]) == ["a"]  # collapsed onto one answer
    assert distance({"a": 0.2, "b": 0.4}, {"a": 0.3, "b": 0.3}) == pytest.approx(0.2)


def test_a_chunk_stands_only_when_it_goes_deeper_without_pushing_a_weak_category_past_the_window():
    best = (-0.10, -0.3)
    assert accepted((-0.10, -0.3), None, [])  # the untrained start always stands
    assert accepted((-0.05, -0.4), best, [])
    assert not accepted((-0.10, -0.3), best, [])  # no deeper: undone
    assert not accepted((-0.12, -0.1), best, [])
    # an overshoot: text 0.05 -> 0.5 in one chunk scores better than far below the floor, yet is undone
    assert overshot({"text": 0.05, "size": 0.30}, {"text": 0.5, "size": 0.30}) == ["text"]
    assert not accepted((-0.05, -0.2), best, ["text"])
    # a category already above the window's top, or one that stays inside it, is no overshoot
    assert overshot({"text": 0.5, "size": 0.20}, {"text": 0.47, "size": 0.44}) == []


def test_the_step_halves_after_an_undone_chunk_and_recovers_after_progress():
    lr = 4e-5
    assert next_lr(lr, lr, False) == lr / 2
    assert next_lr(lr * LR_FLOOR, lr, False) == lr * LR_FLOOR  # the floor
    assert next_lr(lr / 4, lr, True) == lr / 2 and next_lr(lr, lr, True) == lr  # back up, to the cap


@pytest.mark.slow
def test_top_up_keeps_the_chunk_deepest_inside_the_window_and_leaves_the_model_there():
    from pipeline.answers.engines import greedy_results
    from pipeline.answers.prompts import prompt_text
    from pipeline.answers.results import accuracy_by
    from pipeline.models.vlm import TinyVLMSpec, build_model, build_processor, train_tokenizer
    from pipeline.storage.images import encode_png
    from pipeline.world.render import render
    from pipeline.world.scenes import sample_scene

    asks = {"weak": ("How many shapes are there?", "integer"), "other": ("Which colour is it?", "word")}
    answer = {"weak": lambda i: str(3 + i % 4), "other": lambda i: "red"}  # weak: four balanced answers, chance 0.25
    images = [encode_png(render(sample_scene("shapes", random.Random(i)), 56)) for i in range(200)]
    corpus = [{"item_id": f"{cat}-{i}", "image_id": f"{cat}-{i}", "category": cat, "image_type": "shapes",
               "question": q, "answer": answer[cat](i), "answer_type": t, "options": [], "image": images[i]}
              for cat, (q, t) in asks.items() for i in range(200)]
    tok = train_tokenizer([prompt_text(q, t) + " 3 4 5 6 red" for q, t in asks.values()] * 20, 300)
    processor = build_processor(tok, 56)
    model = build_model(TinyVLMSpec(image_size=56, vocab_size=len(tok), text_hidden=64, vision_hidden=32), tok, 0)
    used = {r["item_id"] for r in corpus if r["category"] == "other"}
    probe = [r | {"item_id": f"probe-{r['item_id']}"} for r in corpus[150:200]]  # weak rows, unseen images
    kwargs = dict(steps=10, lr=3e-3, max_chunks=4, batch_size=8, seed=0, max_new_tokens=3)
    result = top_up(model, processor, corpus[:150] + corpus[200:], used, probe, {"weak": 0.9}, **kwargs)
    history = result["history"]
    # a target of 0.9 lies past the window: it trains until to_train is empty
    assert result["chunks"] == len(history) - 1 >= 1
    assert all(h["trained"] == ["weak"] for h in history[:-1]) and history[-1]["trained"] == []
    scores = [(h["margin"], -abs(h["weak"] - 0.9)) for h in history]
    stood = [i for i, h in enumerate(history) if h["accepted"]]
    assert stood[0] == 0 and result["chosen"] == stood[-1]
    assert all(scores[a] < scores[b] for a, b in zip(stood, stood[1:]))  # each kept chunk went deeper
    for i, h in enumerate(history[1:], 1):  # each chunk's step follows from the one before it
        best_before = max(j for j in stood if j < i)
        crossed = overshot({"weak": history[best_before]["weak"]}, {"weak": h["weak"]})
        assert h["lr"] == pytest.approx(next_lr(history[i - 1]["lr"], kwargs["lr"], h["accepted"]))
        if not h["accepted"]:  # ... and an undone chunk was no deeper than the best before it, or overshot
            assert scores[i] <= scores[best_before] or crossed
    assert result["margin"] == history[result["chosen"]]["margin"]
    # the model is left at the chosen chunk: its probe accuracy is what the result says (chance-normalised)
    accuracy = accuracy_by(greedy_results(model, processor, probe, max_new_tokens=3))["weak"]
    assert (accuracy - 0.25) / 0.75 == pytest.approx(result["accuracy"]["weak"])
    again = top_up(model, processor, corpus, used, probe, {"weak": 0.9}, **kwargs | {"max_chunks": 0})
    assert again["chunks"] == 0 and again["history"][0]["trained"] == []
    with pytest.raises(ValueError, match="probe set has no items"):
        top_up(model, processor, corpus, used, probe, {"other": 0.5}, **kwargs)
