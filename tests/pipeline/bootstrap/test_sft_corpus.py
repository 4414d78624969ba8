from collections import Counter

import pytest

from pipeline.bootstrap.sft import CAPTION_QUESTION, curriculum, warmup_corpus


def rows(per_category: dict[str, int]) -> list[dict]:
    return [{"image": f"{cat}-{i}".encode(), "category": cat, "question": "q", "answer": "1",
             "answer_type": "integer", "options": []}
            for cat, n in per_category.items() for i in range(n)]


def test_skew_sets_category_shares_without_repeating_rows():
    corpus = rows({"colour": 400, "counting": 400, "text": 400})
    drawn = curriculum(corpus, {"colour": 3, "text": 0.5}, size=450, seed=0)
    counts = Counter(r["category"] for r in drawn)
    assert counts == {"colour": 300, "counting": 100, "text": 50}
    assert len({r["image"] for r in drawn}) == len(drawn)  # enough rows: no repeats


def test_skew_repeats_rows_only_when_a_category_runs_out():
    drawn = curriculum(rows({"colour": 10, "counting": 10}), {"colour": 3}, size=40, seed=0)
    counts = Counter(r["category"] for r in drawn)
    assert counts == {"colour": 30, "counting": 10}
    assert len({r["image"] for r in drawn if r["category"] == "colour"}) == 10


def test_curriculum_is_seeded():
    corpus = rows({"colour": 50, "counting": 50})
    assert curriculum(corpus, {}, 60, seed=1) == curriculum(corpus, {}, 60, seed=1)
    assert curriculum(corpus, {}, 60, seed=1) != curriculum(corpus, {}, 60, seed=2)


def test_changing_one_weight_keeps_the_other_categories_rows_nested():
    corpus = rows({"colour": 100, "counting": 100, "text": 100})

    def images(skew, cat):
        return {r["image"] for r in curriculum(corpus, skew, 120, seed=0) if r["category"] == cat}

    small, large = images({"colour": 4}, "counting"), images({"colour": 1}, "counting")
    assert len(small) == 20 and len(large) == 40
    assert small < large  # a prefix of one fixed order, not a fresh draw


def test_unknown_or_all_zero_skew_is_a_params_error():
    corpus = rows({"colour": 5, "counting": 5})
    with pytest.raises(ValueError, match=r"\['ocr'\].*\['colour', 'counting'\]"):
        curriculum(corpus, {"ocr": 2}, 10, seed=0)
    with pytest.raises(ValueError, match="weight 0"):
        curriculum(corpus, {"colour": 0, "counting": 0}, 10, seed=0)


def test_captions_make_up_their_share_of_the_warmup():
    captions = [{"image": f"c{i}".encode(), "caption": f"an image of {i} dots"} for i in range(100)]
    corpus = warmup_corpus(rows({"colour": 100, "counting": 100}), captions, skew={}, examples=70,
                           caption_share=0.3, seed=0)
    described = [r for r in corpus if r["question"] == CAPTION_QUESTION]
    assert len(corpus) == 100 and len(described) == 30
    assert {r["answer"] for r in described} <= {c["caption"] for c in captions}
    no_captions = warmup_corpus(rows({"colour": 10}), captions, skew={}, examples=10, caption_share=0.0, seed=0)
    assert sorted(r["image"] for r in no_captions) == sorted(r["image"] for r in rows({"colour": 10}))
