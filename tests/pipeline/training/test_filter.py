import math
import random
from collections import Counter

from pipeline.training.filter import band_distance, filter_samples, label_cap, select


def test_band_keeps_only_in_band_when_enough():
    assert select([0.0, 0.5, 0.6, 1.0], 0.3, 0.8, min_keep=2) == [(False, False), (True, False), (True, False),
                                                                   (False, False)]


def test_fill_is_nearest_to_band_and_flagged():
    flags = select([0.0, 1.0, 0.85, 0.2], 0.3, 0.8, min_keep=2)
    assert flags == [(False, False), (False, False), (True, True), (True, True)]
    assert band_distance(0.2, 0.3, 0.8) == 0.1


def test_max_keep_caps_the_kept_samples_nearest_the_band_middle_then_fills():
    rates = [0.5, 0.25, 0.75, 0.45, 0.0, 1.0]
    assert [k for k, _ in select(rates, 0.2, 0.8, min_keep=0, max_keep=2)] == [True, False, False, True, False, False]
    # an exact trained budget: min_keep = max_keep = N whatever the band holds
    for n in (1, 3, 5):
        assert sum(k for k, _ in select(rates, 0.2, 0.8, min_keep=n, max_keep=n)) == n
    assert select(rates, 0.2, 0.8, min_keep=5, max_keep=5)[4:] == [(True, True), (False, False)]


def test_filter_samples_records_rollouts_and_flags():
    samples = [{"sample_id": "s1", "answer": "3", "answer_type": "integer", "options": []},
               {"sample_id": "s2", "answer": "red", "answer_type": "word", "options": []}]
    completions = [["3", "4"], ["red", "Red."]]
    rollouts, kept, counts = filter_samples(samples, completions, 0.3, 0.8, 0, "m")
    assert rollouts.columns == ["sample_id", "k", "model", "completion", "correct"]
    assert rollouts["correct"].to_list() == [True, False, True, True] and rollouts["model"].unique().to_list() == ["m"]
    assert [k["sample_id"] for k in kept] == ["s1"] and kept[0]["pass_rate"] == 0.5
    assert counts == {"samples": 2, "kept": 1, "in_band": 1, "filled": 0, "rehearsed": 0, "label_capped": 0,
                      "pass_rate.mean": 0.75, "labels.entropy.": 0.0, "labels.top_share.": 1.0, "labels.distinct.": 1}


def test_majority_labels_grade_against_the_models_own_answers_and_record_it():
    samples = [{"sample_id": "s1", "answer": "3", "answer_type": "integer", "options": []},
               {"sample_id": "s2", "answer": "B", "answer_type": "choice", "options": ["cat", "dog"]},
               {"sample_id": "s3", "answer": "red", "answer_type": "word", "options": []}]
    completions = [["4", "four", "3", "5"], ["dog", "B.", "(B)", "b"], ["", "???", "", ""]]  # s2: unanimous
    rollouts, kept, counts = filter_samples(samples, completions, 0.3, 0.8, 0, "m", label="majority")
    assert rollouts["sample_id"].unique(maintain_order=True).to_list() == ["s1", "s2"]  # s3: no valid answer
    assert rollouts.filter(rollouts["sample_id"] == "s1")["correct"].to_list() == [True, True, False, False]
    assert [(k["sample_id"], k["answer"], k["agent_answer"], k["label"]) for k in kept] == [("s1", "4", "3", "majority")]
    assert counts["samples"] == 3 and counts["unlabelled"] == 1 and counts["label_agrees_with_agent"] == 0.5

    _, kept, counts = filter_samples(samples[:1], completions[:1], 0.0, 1.0, 0, "m")
    assert kept[0]["answer"] == kept[0]["agent_answer"] == "3" and kept[0]["label"] == "reference"
    assert "unlabelled" not in counts


def test_rehearsal_adds_solved_samples_from_every_cell_in_turn():
    cells = ["colour/shapes"] * 3 + ["text/document"] * 3 + ["size/shapes"]
    samples = [{"sample_id": f"s{i}", "cell": c, "answer": "3", "answer_type": "integer", "options": []}
               for i, c in enumerate(cells)]
    solved, half = ["3", "3"], ["3", "4"]
    completions = [solved, solved, solved, half, half, solved, half]
    _, plain, counts = filter_samples(samples, completions, 0.3, 0.8, 0, "m")
    assert [k["sample_id"] for k in plain] == ["s3", "s4", "s6"] and counts["rehearsed"] == 0
    _, kept, counts = filter_samples(samples, completions, 0.3, 0.8, 0, "m", rehearsal=2 / 3)
    added = [k for k in kept if not k["in_band"]]
    assert counts["rehearsed"] == 2 and counts["in_band"] == 3 and counts["kept"] == 5
    assert {k["cell"] for k in added} == {"colour/shapes", "text/document"}  # one from each, not two colours
    assert all(k["pass_rate"] == 1.0 and not k["filled"] for k in added)


def test_label_precision_of_what_is_kept_follows_the_label_trained_on():
    """Where the backend knew the truth, the kept samples' labels are counted right or wrong; a majority label
    is judged against the truth itself, and an off-cell sample ("" truth) is wrong whatever its label."""
    samples = [{"sample_id": "s1", "answer": "3", "answer_type": "integer", "options": [], "label_correct": False,
                "true_answer": "4"},
               {"sample_id": "s2", "answer": "5", "answer_type": "integer", "options": [], "label_correct": True,
                "true_answer": "5"},
               {"sample_id": "s3", "answer": "2", "answer_type": "integer", "options": [], "label_correct": False,
                "true_answer": ""}]
    completions = [["4", "4", "3", "7"], ["5", "6", "5", "9"], ["2", "2", "1", "3"]]
    _, kept, counts = filter_samples(samples, completions, 0.0, 1.0, 0, "m")
    assert counts["label_precision.kept"] == 1 / 3 and counts["label_precision.kept.n"] == 3
    _, kept, counts = filter_samples(samples, completions, 0.0, 1.0, 0, "m", label="majority")
    assert [k["label_correct"] for k in kept] == [True, True, False]  # the model's 4 is right where the agent erred
    assert counts["label_precision.kept"] == 2 / 3
    _, _, counts = filter_samples([s | {"label_correct": None, "true_answer": None} for s in samples], completions,
                                  0.0, 1.0, 0, "m")
    assert not any(k.startswith("label_precision") for k in counts)  # no truth known: nothing claimed


def prior_biased_round(rng: random.Random, n: int = 400) -> tuple[list[dict], list[list[str]]]:
    """A cell whose labels 1-6 are balanced but whose model favours "5" (half its answers) whatever the image:
    the band keeps a "5" sample far more often than any other, as it does a real image-blind model's."""
    samples, completions = [], []
    for i in range(n):
        label = str(1 + i % 6)
        samples.append({"sample_id": f"s{i}", "cell": "arithmetic/objects", "answer": label, "answer_type": "integer",
                        "options": []})
        completions.append(["5" if rng.random() < 0.5 else str(rng.randint(1, 6)) for _ in range(8)])
    return samples, completions


def test_label_cap_keeps_the_kept_set_balanced_where_the_band_rewards_the_prior():
    samples, completions = prior_biased_round(random.Random(0))
    _, plain, counts = filter_samples(samples, completions, 0.1, 0.9, 0, "m")
    share = Counter(k["answer"] for k in plain)["5"] / len(plain)
    assert share > 0.25 and counts["labels.top_share.arithmetic/objects"] == share  # the prior's label dominates
    _, kept, counts = filter_samples(samples, completions, 0.1, 0.9, 0, "m", max_label_share=1.5)
    labels = Counter(k["answer"] for k in kept)
    assert labels["5"] <= math.ceil(1.5 * len(kept) / 6) and counts["label_capped"] == len(plain) - len(kept) > 0
    assert counts["labels.entropy.arithmetic/objects"] > math.log2(6) - 0.2  # near the balanced maximum
    assert {k["answer"] for k in kept} == {str(v) for v in range(1, 7)}


def test_label_cap_is_the_largest_fixed_point_and_off_at_zero():
    assert label_cap([10, 1], 2, 1.5) == 6  # 6 + 1 kept: ceil(1.5 * 7 / 2) = 6
    assert label_cap([4, 4, 4], 3, 1.5) == 6  # balanced: nothing cut
    samples, completions = prior_biased_round(random.Random(1), 60)
    _, plain, counts = filter_samples(samples, completions, 0.1, 0.9, 0, "m", max_label_share=0)
    assert counts["label_capped"] == 0 and len(plain) == counts["in_band"]
