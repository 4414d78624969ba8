"""Top the base model's weak categories up into r0's window after the warm-up.

Near zero, a handful of warm-up examples more or less swings a category's accuracy by ±0.1 from one draw to
the next, so the skew alone cannot place a category in the window (``skills.NORM_LOW``-``NORM_HIGH`` of
chance-normalised accuracy). The top-up reaches it with less training data, never by degrading the model: it
makes "weak but partly learned" a target, with short SFT chunks on fresh examples of the weak categories not yet
well inside the profile (half and half with replay of the warm-up's other questions, so the rest is not
forgotten), each followed by the weak categories' skill profile, until every one sits well inside. A chunk's
examples of a category lean to the answers it gives too rarely (``aim``): a partly learnt category is otherwise
right on the answers it learnt first and gives them for the rest, one answer taking more than its share.

The profile is measured on the item set it is checked on (the probe), and a category is trained while it is
short of any bound more training moves it towards (the window's floor, the share of items no sampled answer gets
right), whatever its accuracy. A chunk stands only when it leaves the weak categories deeper inside every bound of
``skills.uneven`` (``skills.profile_margins``) than the best state so far and pushes none past the window's top;
otherwise it is undone, and the next chunk runs on fresh examples at half the learning rate (down to ``LR_FLOOR``
of it): one chunk at the full rate can move a category further than the window is wide. A chunk that stands
doubles the rate again, up to ``bootstrap.vlm.top_up_lr``, so a run is never left crawling at a rate below the
probe's noise.
"""

from __future__ import annotations

import copy
import logging
import random

from pipeline.bootstrap.sft import run_sft
from pipeline.bootstrap.skills import NORM_HIGH, measure, profile_margins

log = logging.getLogger(__name__)

FRESH_SHARE = 0.5  # of a chunk's rows: fresh weak-category examples; the rest is replay
STOP_MARGIN = 0.05  # stop once every weak category is this far inside every bound of the profile
LR_FLOOR = 1 / 8  # an undone chunk halves the learning rate, down to this share of bootstrap.vlm.top_up_lr


def fresh_rows(rows: list[dict], used: set[str], categories: list[str], seed: int) -> dict[str, dict[str, list]]:
    """Per weak category and answer, the SFT corpus rows the warm-up left unused, in a seeded order (``pop()``
    takes the next): the top-up's examples, kept apart by answer so a chunk can choose which answers it teaches."""
    present = {r["category"] for r in rows}
    unknown = sorted(set(categories) - present)
    if unknown:
        raise ValueError(f"bootstrap.vlm.weak names categories {unknown} that the SFT corpus does not have; "
                         f"use some of {sorted(present)}")
    fresh: dict[str, dict[str, list]] = {}
    for cat in sorted(categories):
        mine = [r for r in rows if r["category"] == cat and r["item_id"] not in used]
        random.Random(f"{seed}:top-up:{cat}").shuffle(mine)
        for r in mine:
            fresh.setdefault(cat, {}).setdefault(r["answer"], []).append(r)
    return fresh


def aim(shares: dict[str, float]) -> dict[str, float]:
    """The answer mix of a category's next chunk, from the share of its greedy answers that is each answer: each
    answer in proportion to how far its share is below 2/k (the mirror of its share around 1/k), so an even
    category gets even chunks and an answer given too rarely gets more. A partly learnt category puts its errors
    on the answers it learnt first (one then takes more than 1.5/k of its answers, though the cell is above
    chance); even chunks teach every answer alike and leave that tilt where it is.

    >>> {a: round(w, 3) for a, w in aim({"one": 0.5, "two": 0.0, "three": 0.5}).items()}
    {'one': 0.167, 'two': 0.667, 'three': 0.167}
    """
    k = len(shares)
    room = {a: max(0.0, 2 / k - s) for a, s in shares.items()}
    total = sum(room.values())
    return {a: r / total if total else 1 / k for a, r in room.items()}


def apportion(n: int, weights: dict[str, float]) -> dict[str, int]:
    """``n`` split in proportion to ``weights`` (largest remainders; ties by name): whole rows per answer.

    >>> apportion(8, {"a": 1 / 6, "b": 2 / 3, "c": 1 / 6})
    {'a': 1, 'b': 6, 'c': 1}
    """
    total = sum(weights.values())
    exact = {a: n * w / total for a, w in weights.items()}
    counts = {a: int(x) for a, x in exact.items()}
    for a in sorted(exact, key=lambda a: (counts[a] - exact[a], a))[:n - sum(counts.values())]:
        counts[a] += 1
    return counts


def to_train(profile: dict, categories: list[str]) -> list[str]:
    """The weak categories another chunk can move deeper into the profile: less than ``STOP_MARGIN`` inside
    it, still at or below the window's top, and held back by a bound other than that top (training raises
    accuracy, so a category nearest the ceiling would only leave the window). Of those, the ones outside the
    profile come first, alone: a category already inside overshoots the top in chunks that also train one far
    below its floor, and the halved steps meant for it would leave the other where it was. Empty: stop."""
    norm, margins = profile["normalised_accuracy"], profile_margins(profile, categories)
    movable = sorted(c for c in categories
                     if margins[c] < STOP_MARGIN and norm[c] <= NORM_HIGH
                     and round(NORM_HIGH - norm[c], 10) > margins[c])
    return [c for c in movable if margins[c] < 0] or movable


def chunk_rows(fresh: dict[str, dict[str, list]], train: list[str], replay: list[dict], n: int,
               rng: random.Random, aims: dict[str, dict[str, float]] | None = None) -> list[dict] | None:
    """``n`` training rows: half fresh examples of the categories to train (an equal part each, its answers mixed
    as ``aims`` says, evenly without one; never reused), half replay. None when an answer has too few left."""
    n_weak = round(n * FRESH_SHARE) if replay else n
    rows = []
    for i, cat in enumerate(train):
        queues = fresh[cat]
        weights = {a: (aims or {}).get(cat, {}).get(a, 0.0) for a in queues}
        if not sum(weights.values()):
            weights = dict.fromkeys(queues, 1.0)
        counts = apportion(n_weak // len(train) + (i < n_weak % len(train)), weights)
        if any(len(queues[a]) < m for a, m in counts.items()):
            return None
        rows += [queues[a].pop() for a in sorted(counts) for _ in range(counts[a])]
    rows += rng.sample(replay, min(n - n_weak, len(replay)))
    rng.shuffle(rows)
    return rows


def distance(accuracy: dict[str, float], targets: dict[str, float]) -> float:
    """How far a profile's chance-normalised accuracies are from the targets: the sum of absolute misses."""
    return sum(abs(accuracy[c] - t) for c, t in targets.items())


def overshot(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """The weak categories a chunk pushed from at or below the window's top to above it (chance-normalised):
    training at this step size moves them further than the window is wide (directly, or through what the
    trained ones share).

    >>> overshot({"text": 0.109, "size": 0.47}, {"text": 0.532, "size": 0.5})
    ['text']
    """
    return sorted(c for c in before if before[c] <= NORM_HIGH < after[c])


def accepted(score: tuple, best: tuple | None, overshoot: list[str]) -> bool:
    """Does a chunk stand? Only when it leaves the weak categories deeper inside the profile than the best state
    so far and overshot none (an overshoot from far below the floor may still score as progress).

    >>> accepted((0.02, -0.1), (-0.1, -0.3), [])
    True
    >>> accepted((-0.03, -0.1), (-0.1, -0.3), ["text"])
    False
    """
    return best is None or (score > best and not overshoot)


def next_lr(step_lr: float, lr: float, stands: bool) -> float:
    """The next chunk's learning rate: doubled after a chunk that stands (up to ``lr``), halved after one that is
    undone (down to ``LR_FLOOR`` of ``lr``). An undone chunk overshot, or moved a category somewhere no better:
    near the window a chunk at the full rate flips a partly learnt category from one tilted answer pattern to
    another, and retrying at that rate repeats the flip.

    >>> next_lr(5e-5, 5e-5, False), next_lr(2.5e-5, 5e-5, True), next_lr(6.25e-6, 5e-5, False)
    (2.5e-05, 5e-05, 6.25e-06)
    """
    return min(step_lr * 2, lr) if stands else max(step_lr / 2, lr * LR_FLOOR)


def top_up(model, processor, rows: list[dict], used: set[str], items: list[dict], targets: dict[str, float], *,
           steps: int, lr: float, max_chunks: int, batch_size: int, seed: int, max_new_tokens: int = 8) -> dict:
    """Train ``model`` in chunks on the weak categories ``to_train`` names, keeping a chunk only when its profile on
    ``items`` has a larger worst margin than the best so far (ties: nearest the ``targets`` accuracies) without an
    overshoot, and otherwise undoing it (``accepted``, ``next_lr``). Leaves the model at the best chunk.
    Stops once every category is ``STOP_MARGIN`` inside the profile, or no chunk can move one deeper."""
    if not targets:
        return {"chunks": 0, "chosen": 0, "accuracy": {}, "margin": None, "history": []}
    fresh = fresh_rows(rows, used, list(targets), seed)
    items = [r for r in items if r["category"] in targets]
    missing = sorted(c for c in targets if not any(r["category"] == c for r in items))
    if missing:
        raise ValueError(f"the probe set has no items of {missing}; it must cover every category in "
                         f"bootstrap.vlm.weak")
    replay = [r for r in rows if r["item_id"] in used and r["category"] not in targets]
    rng = random.Random(f"{seed}:top-up")
    history: list[dict] = []
    best_state, best, best_profile, chosen, train, step_lr = None, None, None, 0, [], lr
    for chunk in range(max_chunks + 1):
        profile = measure(model, processor, items, weak=sorted(targets), seed=seed, max_new_tokens=max_new_tokens)
        accuracy = profile["normalised_accuracy"]
        margins = profile_margins(profile, sorted(targets))
        margin = min(margins.values())
        score = (margin, -distance(accuracy, targets))
        before = {c: best_profile["normalised_accuracy"][c] for c in targets} if best is not None else {}
        overshoot = overshot(before, accuracy)
        stands = accepted(score, best, overshoot)
        if stands:
            best_state, best, best_profile, chosen = copy.deepcopy(model.state_dict()), score, profile, chunk
        else:
            model.load_state_dict(best_state)
        step_lr = next_lr(step_lr, lr, stands)
        train = [] if chunk == max_chunks else to_train(best_profile, sorted(targets))
        history.append({c: accuracy[c] for c in sorted(targets)} | {"margin": margin, "margins": margins,
                                                                     "accepted": stands, "trained": train,
                                                                     "lr": step_lr})
        log.info("top-up chunk %d: %s", chunk, history[-1])
        if not train:
            break
        aims = {c: aim(best_profile["answer_shares"][c]) for c in train}
        log.info("top-up chunk %d aims at %s", chunk + 1, {c: {a: round(w, 2) for a, w in m.items()}
                                                            for c, m in aims.items()})
        batch = chunk_rows(fresh, train, replay, steps * batch_size, rng, aims)
        if batch is None:
            log.warning("top-up stopped: no fresh SFT examples left for %s (raise world.sft_size)", train)
            history[-1]["trained"] = []
            break
        run_sft(model, processor, batch, steps=steps, batch_size=batch_size, lr=step_lr, seed=seed + chunk)
    model.load_state_dict(best_state)
    kept = history[chosen]
    log.info("top-up kept chunk %d of %d: %s", chosen, len(history) - 1, kept)
    return {"chunks": len(history) - 1, "chosen": chosen, "margin": kept["margin"],
            "accuracy": {c: kept[c] for c in sorted(targets)}, "history": history}
