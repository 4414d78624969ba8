"""How good a round's generated data is, for any backend: whether the validator agreed with the writer, how
diverse the samples are, and (where the backend knew the truth) how many labels are right.

``metrics/rN/generate.json`` gets these keys (pure functions of the round's samples and attempts, plus the
probe's answers and the pool's CLIP vectors for comparison):

- ``agreement``, ``agreement.<cell>``: of the drafts the validator checked, the share it agreed with;
- ``diversity.sources``, ``diversity.questions``: distinct source images and distinct normalised questions per
  accepted sample (1.0: none repeats);
- ``entropy.<cell>`` and ``entropy.probe.<cell>``: the entropy (bits) of the accepted answers, and of the probe's
  answers in the same cell (a round that answers everything alike has a low one);
- ``diversity.clip_spread``: mean pairwise CLIP distance of the chosen images over that of as many random pool
  images (1.0: as spread over the pool's CLIP space as chance; lower: clustered);
- ``label_precision.accepted`` (+ ``.low``, ``.high``, ``.n``, Wilson 95%): the share of right labels, only
  where the backend knows the truth.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import numpy as np

from pipeline.generation.dedup import question_key
from pipeline.stats.evidence import label_precision
from pipeline.storage.schemas import Attempt, Sample

AGREED = {"", "duplicate_image", "duplicate_question", "similar_image", "source_in_use"}  # checked after the validator


def entropy(values: list[str]) -> float:
    """Shannon entropy in bits of the values' distribution (0 for none or one kind).

    >>> entropy(["1", "2", "1", "2"])
    1.0
    """
    counts = Counter(values)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def agreement(attempts: list[Attempt]) -> dict[str, float]:
    """Overall and per cell: of the drafts the validator checked, the share it agreed with."""
    checked: dict[str, list[bool]] = defaultdict(list)
    for a in attempts:
        if a.reason in AGREED or a.reason == "validator_disagrees":
            checked[a.cell].append(a.reason != "validator_disagrees")
    every = [v for cell in checked.values() for v in cell]
    out = {"agreement": sum(every) / len(every)} if every else {}
    return out | {f"agreement.{cell}": sum(v) / len(v) for cell, v in sorted(checked.items())}


def diversity(samples: list[Sample], probe_answers: dict[str, list[str]]) -> dict[str, float]:
    if not samples:
        return {}
    out = {"diversity.sources": len({s.source_image_id for s in samples}) / len(samples),
           "diversity.questions": len({question_key(s.question) for s in samples}) / len(samples)}
    by_cell: dict[str, list[str]] = defaultdict(list)
    for s in samples:
        by_cell[s.cell].append(s.answer)
    for cell, answers in sorted(by_cell.items()):
        out[f"entropy.{cell}"] = entropy(answers)
        if cell in probe_answers:
            out[f"entropy.probe.{cell}"] = entropy(probe_answers[cell])
    return out


def mean_distance(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance of unit vectors (0 for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    return float((n * n - sims.sum()) / (n * (n - 1)))


def clip_spread(chosen: np.ndarray, pool: np.ndarray) -> float | None:
    """How spread the chosen images are over the pool's CLIP space, against as many pool images."""
    base = mean_distance(pool)
    return mean_distance(chosen) / base if len(chosen) > 1 and base > 0 else None


def quality(samples: list[Sample], attempts: list[Attempt], probe_answers: dict[str, list[str]],
            search=None, seed: int = 0) -> dict[str, float]:
    """Every quality key of the round (the module docstring lists them); ``search``: the round's PoolSearch,
    for the CLIP spread."""
    out = agreement(attempts) | diversity(samples, probe_answers)
    out |= label_precision([s.label_correct for s in samples], "accepted")
    if search is not None and len(samples) > 1:
        chosen = search.vectors([s.source_image_id for s in samples])
        spread = clip_spread(chosen, search.sample_vectors(len(chosen), random.Random(seed)))
        if spread is not None:
            out["diversity.clip_spread"] = spread
    return out
