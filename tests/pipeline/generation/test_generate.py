"""Generation on a tiny world pool, with the world's agents and exact search, without DVC: the attempt
block and the loop that counts, the lineage a sample carries, and determinism."""

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.diagnosis.itemsets import load_items
from pipeline.generation.agents import PlanRequest
from pipeline.generation.attempt import AIM_WIDTHS, RoundInputs, attempt, retrieve, target
from pipeline.generation.dedup import Seen, question_key
from pipeline.generation.edits import replay
from pipeline.generation.generate import Budget, RoundState, generate
from pipeline.generation.params import DEFAULT_EDITS, DedupConfig
from pipeline.pool.search import PoolSearch
from pipeline.storage import lake
from pipeline.storage.images import decode_rgb, image_id
from pipeline.world.agents import WorldBackend


def context(world_pool, scenes=None, **extra) -> RoundInputs:
    out, clip_dir, pool_manifest, vectors = world_pool
    return RoundInputs(backend=WorldBackend(scenes or out / "scenes.parquet", list(DEFAULT_EDITS)),
                   search=PoolSearch(vectors, str(clip_dir)), pool_manifest=pool_manifest, brief="",
                   diagnosis_hash="d" * 16, round_name="r1", seed=7, top_k=extra.pop("top_k", 8), **extra)


def test_generation_fills_quotas_with_lineage_and_counts_every_attempt(world_pool):
    quotas = {"counting/document": 3, "colour/objects": 2, "chart/bar_chart": 2, "text/document": 0}
    samples, attempts, counts = generate(quotas, context(world_pool), max_attempts_per_sample=6)
    assert counts["accepted"] == len(samples) == 7 and "unfilled" not in counts
    assert counts["calls.planner"] == counts["attempts"] and counts["tokens.prompt"] == 0  # rules cost nothing
    assert counts["attempts"] == len(attempts) == len({a.attempt_id for a in attempts})
    assert not any(a.cell == "text/document" for a in attempts)  # a full (zero) quota spends nothing
    rejected = [a for a in attempts if a.outcome == "rejected"]
    assert sum(v for k, v in counts.items() if k.startswith("rejected.")) == len(rejected)
    assert all(a.reason for a in rejected) and all(json.loads(a.calls) for a in attempts)

    pool_table = lake.open_pinned(world_pool[2])
    for s in samples:
        assert s.cell in quotas and s.round == "r1" and s.pool_version == world_pool[2].version
        source = lake.fetch_rows(pool_table, [s.source_image_id], ["image_id", "image"])["image"][0].as_py()
        rebuilt = replay(decode_rgb(source), json.loads(s.edits))  # the exact image, from lineage alone
        assert np.array_equal(np.asarray(rebuilt), np.asarray(decode_rgb(s.image)))
        assert s.image_hash == image_id(s.image)
        assert s.backend == "world" and s.validator_answer == s.answer and s.selector_score is None
        assert set(json.loads(s.role_models)) == {"planner", "writer", "validator"}
    assert len({s.source_image_id for s in samples}) == len(samples)  # one sample per pool image

    again, _, _ = generate(quotas, context(world_pool), max_attempts_per_sample=6)
    assert [s.sample_id for s in again] == [s.sample_id for s in samples]  # deterministic


def test_an_attempt_returns_its_rejection_reason(world_pool, tmp_path):
    out = world_pool[0]
    empty = tmp_path / "scenes.parquet"
    pq.write_table(pq.read_table(out / "scenes.parquet").slice(0, 0), empty)
    result = attempt(context(world_pool, scenes=empty), "counting/document", "r1/counting/document/00000", set())
    assert result.sample is None and result.reason == "unknown_image" and result.image_id
    assert [c.role for c in result.calls] == ["planner", "writer"]


def test_a_spent_budget_stops_generation_cleanly(world_pool):
    quotas = {"counting/document": 3, "colour/objects": 2, "chart/bar_chart": 2}
    samples, attempts, counts = generate(quotas, context(world_pool), 6, budget=Budget(calls=10))
    calls = sum(v for k, v in counts.items() if k.startswith("calls."))
    assert counts["stopped.calls"] == 1 and 10 <= calls <= 10 + 3  # checked before each attempt
    assert counts["accepted"] == len(samples) >= 1 and len(attempts) == counts["attempts"]
    assert counts["unfilled"] == sum(quotas.values()) - len(samples)


def test_concurrent_attempts_are_deterministic_and_fill_the_quotas(world_pool):
    quotas = {"counting/document": 3, "colour/objects": 2, "chart/bar_chart": 2}
    runs = [generate(quotas, context(world_pool), 6, concurrency=4) for _ in range(2)]
    (samples, attempts, counts), (again, attempts_again, _) = runs
    assert counts["accepted"] == len(samples) == 7 and "unfilled" not in counts
    assert [s.sample_id for s in again] == [s.sample_id for s in samples]
    assert [a.reason for a in attempts_again] == [a.reason for a in attempts]
    assert len({s.source_image_id for s in samples}) == len(samples)  # one wave never uses an image twice


def test_samples_repeating_an_earlier_round_are_rejected(world_pool):
    quotas = {"counting/document": 3, "colour/objects": 2}
    first = RoundState()
    samples, _, _ = generate(quotas, context(world_pool), 6, state=first)
    # the same round again (same seed, same attempt ids) with the first run's index: its samples come back
    later = RoundState(seen=Seen.from_table(first.seen.table(), DedupConfig()))
    repeat, attempts, counts = generate(quotas, context(world_pool), 6, state=later)
    assert counts.get("rejected.duplicate_image", 0) + counts.get("rejected.duplicate_question", 0) >= len(samples)
    before = {(s.source_image_id, question_key(s.question)) for s in samples}
    assert not before & {(s.source_image_id, question_key(s.question)) for s in repeat}
    assert len(later.seen.rows) == len(samples) + len(repeat)


def test_retrieval_also_searches_by_the_failed_probe_images(world_pool):
    out = world_pool[0]
    items = [i for i in load_items(str(out / "probe.parquet")) if i["image_type"] == "bar_chart"][:2]
    failures = {"chart/bar_chart": tuple({"item_id": i["item_id"], "question": i["question"],
                                          "reference": i["answer"], "answer": "0"} for i in items)}
    ctx = context(world_pool, failures=failures, failure_images={i["item_id"]: i["image"] for i in items},
                  image_queries=2)
    plan = ctx.backend.plan(PlanRequest("chart/bar_chart", "", failures["chart/bar_chart"]), random.Random(0)).value
    hits = retrieve(ctx, plan, "chart/bar_chart", set(), random.Random(0), [])
    queries = [h.query for h in hits]
    assert queries[0] == plan.query and {f"image:{i['item_id']}" for i in items} <= set(queries[:3])
    assert len({h.image_id for h in hits}) == len(hits) == ctx.top_k and all(h.image_type == "bar_chart" for h in hits)


def test_an_attempt_reads_all_its_candidates_images_in_one_batch(world_pool, monkeypatch):
    reads, real = [], lake.fetch_rows
    monkeypatch.setattr(lake, "fetch_rows", lambda table, ids, columns: reads.append(list(ids)) or
                        real(table, ids, columns))
    ctx = context(world_pool)
    out = attempt(ctx, "table/table", "r1/table/table/00000", set())
    assert len(reads) == 1 and out.image_id in reads[0]  # an aimed attempt's candidates, one read
    assert 1 < len(reads[0]) <= 8 * AIM_WIDTHS[0]
    plan = ctx.backend.plan(PlanRequest("table/table", "", (), out.sample.answer), random.Random(0)).value
    assert all(ctx.backend.fits(plan, i) for i in reads[0])  # only images that can give the target are read


def _table_scenes(path, tmp_path, wide: set[str]):
    """The world's scenes with every table two columns wide, except the ``wide`` ones (four columns)."""
    table = pq.read_table(path)
    scenes = []
    for image_id, raw in zip(table["image_id"].to_pylist(), table["scene"].to_pylist()):
        scene = json.loads(raw)
        if scene["image_type"] == "table":
            columns = 4 if image_id in wide else 2
            scene["cells"] = [(row * 4)[:columns] for row in scene["cells"]]
        scenes.append(json.dumps(scene))
    out = tmp_path / f"scenes-{len(wide)}.parquet"
    pq.write_table(table.set_column(table.column_names.index("scene"), "scene", pa.array(scenes)), out)
    return out


def test_an_aimed_attempt_searches_deeper_until_an_image_can_give_its_answer(world_pool, tmp_path):
    """Only the table the search ranks last has the target width: the attempt finds it by widening the search
    (the first depth, 4 x top_k hits, does not reach it) and asks for that width; with no such table anywhere it
    notes the miss and falls back to the first depth's hits."""
    ctx = context(world_pool, top_k=2)
    plan = ctx.backend.plan(PlanRequest("grid/table", "", ()), random.Random(0)).value
    ranked = [h.image_id for h in ctx.search.by_text(plan.query, 1000, image_type="table")]  # by the CLIP's tag
    tables = [i for i in ranked if json.loads(ctx.backend.scenes[i])["image_type"] == "table"]
    assert ranked.index(tables[-1]) >= 2 * AIM_WIDTHS[0]  # the last table is beyond the first depth
    attempt_id = next(f"r1/grid/table/{i:05d}" for i in range(9) if target(("narrow", "medium", "wide"),
                                                                           f"r1/grid/table/{i:05d}", 7) == "wide")
    deep = context(world_pool, top_k=2, scenes=_table_scenes(world_pool[0] / "scenes.parquet", tmp_path,
                                                             {tables[-1]}))
    found = attempt(deep, "grid/table", attempt_id, set())
    assert found.sample.answer == "wide" and found.sample.source_image_id == tables[-1]
    assert "aim.widened" in found.notes and "aim.missed" not in found.notes
    none = context(world_pool, top_k=2, scenes=_table_scenes(world_pool[0] / "scenes.parquet", tmp_path, set()))
    missed = attempt(none, "grid/table", attempt_id, set())
    assert "aim.missed" in missed.notes and missed.image_id in ranked[:2 * AIM_WIDTHS[0]]  # the first depth's hits


def test_the_world_aims_each_cells_attempts_at_its_answers_in_turn(world_pool):
    """The world backend can aim: its selector takes an image that can give the attempt's target answer when one is
    retrieved, its writer asks for it, and a cell's attempts cycle through the answers; aiming costs no fill (an
    image without the target still serves) and balances a cell the pool's images allow."""
    from collections import Counter

    from pipeline.generation.agents import Plan
    from pipeline.generation.attempt import Candidate
    from pipeline.pool.search import Hit

    backend = WorldBackend(world_pool[0] / "scenes.parquet", [])
    scenes = {i: json.loads(s) for i, s in backend.scenes.items()}
    dots = [i for i, s in scenes.items() if s["image_type"] == "objects"]
    single = [i for i in dots if len({d["colour"] for d in scenes[i]["dots"]}) == 1]
    assert single and len(single) < len(dots) / 3  # the pool itself is skewed towards two colours
    found = [Candidate(Hit(i, 1.0, "objects"), b"") for i in [d for d in dots if d not in single][:10] + single[:1]]
    plan = Plan(cell="variety/objects", category="variety", image_type="objects", query="q", target="single")
    for seed in range(5):
        chosen = backend.select(plan, found, random.Random(seed)).value
        assert chosen.image_id == single[0]
        assert backend.write(plan, chosen.image_id, None, random.Random(seed)).value.answer == "single"
    assert backend.select(plan, found[:-1], random.Random(0)).value is not None  # none fits: any candidate

    samples, _, _ = generate({"chart/bar_chart": 6}, context(world_pool), max_attempts_per_sample=6)
    assert Counter(s.answer for s in samples) == {"3": 2, "4": 2, "5": 2}
