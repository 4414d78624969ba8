"""Quality measures of a round's data (pipeline/generation/quality.py): pure functions, checked on cases whose
answer is known."""

import numpy as np

from pipeline.generation.quality import agreement, clip_spread, entropy, mean_distance
from pipeline.storage.schemas import Attempt


def attempt(cell: str, reason: str) -> Attempt:
    return Attempt(attempt_id="a", round="r1", cell=cell, outcome="rejected" if reason else "accepted", reason=reason,
                   source_image_id="", calls="[]", notes="[]", run_key="", started_at="", finished_at="")


def test_agreement_counts_only_drafts_the_validator_checked():
    rows = [attempt("a/x", ""), attempt("a/x", "validator_disagrees"), attempt("a/x", "duplicate_image"),
            attempt("a/x", "no_retrieval"), attempt("b/y", "validator_disagrees")]
    assert agreement(rows) == {"agreement": 0.5, "agreement.a/x": 2 / 3, "agreement.b/y": 0.0}


def test_entropy_and_spread_read_as_they_should():
    assert entropy(["3"] * 5) == 0.0 and entropy(list("abcd")) == 2.0
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(400, 16))
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    assert mean_distance(np.repeat(pool[:1], 5, axis=0)) < 1e-6  # one image five times: no spread
    assert 0.9 < clip_spread(pool[:200], pool[200:]) < 1.1  # drawn like the pool: as spread as chance
    near = pool[:1] + 0.05 * rng.normal(size=(50, 16))
    assert clip_spread(near / np.linalg.norm(near, axis=1, keepdims=True), pool) < 0.1  # one corner of the space
