"""Top the base model's weak categories up into r0's window after the warm-up.

Near zero, a handful of warm-up examples more or less swings a category's accuracy by ±0.1 from one draw to
the next, so the skew alone cannot place a category in the window (``skills.NORM_LOW``-``NORM_HIGH`` of
chance-normalised accuracy). The top-up reaches it with less training data, never by degrading the model: it
makes "weak but partly learned" a target, with short SFT chunks on fresh examples of the weak categories not yet
well inside the profile (half and half with replay of the warm-up's other questions, so the rest is not
forgotten), each followed by the weak categories' skill profile, until every one sits well inside.

The profile is measured on the item set it is checked on (the probe), and a category is trained while it is
short of any bound more training moves it towards (the window's floor, the share of items no sampled answer gets
right), whatever its accuracy. A chunk stands only when it leaves the weak categories deeper inside every bound of
``skills.uneven`` (``skills.profile_margins``) than the best state so far; otherwise it is undone and retried on
fresh examples. One that pushes a weak category past the window's top is undone too, and the next chunk runs at half
the learning rate (down to ``LR_FLOOR`` of it): one chunk at the full rate can move a category further than the
window is wide. A chunk that stands doubles the rate again, up to ``bootstrap.vlm.top_up_lr``, so a run is never
left crawling at a rate below the probe's noise.
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
LR_FLOOR = 1 / 8  # an overshoot halves the learning rate, down to this share of bootstrap.vlm.top_up_lr


def by_answer(rows: list[dict]) -> list[dict]:
    """``rows`` reordered so that ``pop()`` takes their answers in turn (as many of each answer as the rarest
    allows, then the rest): every chunk teaches a category's answers equally often, so a chunk cannot tilt its
    answer prior.

    >>> [r["answer"] for r in by_answer([{"answer": a} for a in "aaabbc"])][::-1]
    ['a', 'b', 'c', 'a', 'b', 'a']
    """
    queues = {}
    for r in rows:
        queues.setdefault(r["answer"], []).append(r)
    order = [q.pop(0) for turn in range(max(map(len, queues.values()), default=0))
             for q in (queues[a] for a in sorted(queues)) if q]
    return order[::-1]


def fresh_rows(rows: list[dict], used: set[str], categories: list[str], seed: int) -> dict[str, list[dict]]:
    """Per weak category, the SFT corpus rows the warm-up left unused, in a fixed order that takes its answers in
    turn (``by_answer``): the top-up's examples."""
    present = {r["category"] for r in rows}
    unknown = sorted(set(categories) - present)
    if unknown:
        raise ValueError(f"bootstrap.vlm.weak names categories {unknown} that the SFT corpus does not have; "
                         f"use some of {sorted(present)}")
    fresh = {}
    for cat in sorted(categories):
        fresh[cat] = [r for r in rows if r["category"] == cat and r["item_id"] not in used]
        random.Random(f"{seed}:top-up:{cat}").shuffle(fresh[cat])
        fresh[cat] = by_answer(fresh[cat])
    return fresh


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


def chunk_rows(fresh: dict[str, list[dict]], train: list[str], replay: list[dict], n: int,
               rng: random.Random) -> list[dict] | None:
    """``n`` training rows: half fresh examples of the categories to train (taken round robin, never reused),
    half replay. None when a category has no fresh examples left."""
    n_weak = round(n * FRESH_SHARE) if replay else n
    if any(len(fresh[c]) < -(-n_weak // len(train)) for c in train):
        return None
    rows = [fresh[train[i % len(train)]].pop() for i in range(n_weak)]
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


def next_lr(step_lr: float, lr: float, stands: bool, overshoot: list[str]) -> float:
    """The next chunk's learning rate: halved after an overshoot (down to ``LR_FLOOR`` of ``lr``), doubled after a
    chunk that stands (up to ``lr``), kept for a retry after a chunk that was merely no better.

    >>> next_lr(5e-5, 5e-5, False, ["text"]), next_lr(2.5e-5, 5e-5, True, []), next_lr(2.5e-5, 5e-5, False, [])
    (2.5e-05, 5e-05, 2.5e-05)
    """
    if overshoot:
        return max(step_lr / 2, lr * LR_FLOOR)
    return min(step_lr * 2, lr) if stands else step_lr


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
        margin = min(profile_margins(profile, sorted(targets)).values())
        score = (margin, -distance(accuracy, targets))
        before = {c: best_profile["normalised_accuracy"][c] for c in targets} if best is not None else {}
        overshoot = overshot(before, accuracy)
        stands = accepted(score, best, overshoot)
        if stands:
            best_state, best, best_profile, chosen = copy.deepcopy(model.state_dict()), score, profile, chunk
        else:
            model.load_state_dict(best_state)
        step_lr = next_lr(step_lr, lr, stands, overshoot)
        train = [] if chunk == max_chunks else to_train(best_profile, sorted(targets))
        history.append({c: accuracy[c] for c in sorted(targets)} | {"margin": margin, "accepted": stands,
                                                                     "trained": train, "lr": step_lr})
        log.info("top-up chunk %d: %s", chunk, history[-1])
        if not train:
            break
        batch = chunk_rows(fresh, train, replay, steps * batch_size, rng)
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
