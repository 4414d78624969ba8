"""End to end: a micro round through the real stage entry points, in a temporary git + DVC repo. The first
`dvc repro` runs once per session; each test gets its own copy of the repository after it (git, DVC cache, data
and lake), so no test sees another's changes."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.config import overlay
from pipeline.storage import artifacts
from pipeline.world.questions import CATEGORIES, CELLS

REPO = Path(__file__).resolve().parents[1]

MICRO = {
    "world": {"pool_size": 150, "probe_per_cell": 1, "eval_per_cell": 1, "dev_per_cell": 1, "sft_size": 60,
              "clip_size": 700},
    "testset": {"per_cell": 2},
    "bootstrap": {"clip": {"embed_dim": 32, "width": 64, "layers": 1, "steps": 120, "batch_size": 32, "lr": 0.002},
                  "vlm": {"text_hidden": 64, "vision_hidden": 32, "steps": 10, "batch_size": 4, "examples": 60,
                          "top_up_chunks": 1}},
    "mixture": {"budget": 8, "floor": 0},
    "filter": {"n_samples": 2, "min_keep": 4},
    "train": {"num_generations": 2, "prompts_per_step": 2, "max_steps": 2},
    "rounds": {"r1": {"prev": "r0"}},
}


def merge(base: dict, update: dict) -> dict:
    """A copy of ``base`` with ``update`` merged as a params overlay is."""
    return overlay.merge(copy.deepcopy(base), update)


def run(cmd: list[str], cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DPE_THREADS": "1",
                        "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "commit", "-qm", message, "--allow-empty"],
        repo)


def stages_to_run(cwd: Path) -> set[str]:
    out = run(["dvc", "status", "--json"], cwd)
    return set(json.loads(out[out.index("{"):]) if "{" in out else {})


def set_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory):
    """A temporary git + DVC repo with the project's code and micro params, after its first `dvc repro`:
    (repo, params, log of that repro). Tests take a copy (``micro_repo``), never this one."""
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    repo.mkdir()
    for name in ("pipeline", "stages"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, repo)
    shutil.copytree(REPO / "data/reviews", repo / "data/reviews")  # in git: people's marks, read by the audits
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), MICRO)
    set_params(repo, params)
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    shutil.copy(REPO / ".dvcignore", repo)  # dvc init writes its own
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots")
    return repo, params, run(["dvc", "repro"], repo)


@pytest.fixture
def micro_repo(micro_run, tmp_path):
    """This test's own copy of the micro run's repository: (repo, params, log of the first repro)."""
    repo, params, log = micro_run
    clone = tmp_path / "repo"
    shutil.copytree(repo, clone, symlinks=True)
    return clone, copy.deepcopy(params), log


@pytest.mark.timeout(600)  # the session's first repro (about 90 s) runs in this test's setup
def test_micro_round_through_dvc(micro_repo):
    from pipeline.answers import results as res
    from pipeline.models.card import read_card_metrics
    from pipeline.run.runtime import flatten
    from pipeline.storage import schemas

    repo, params, log = micro_repo
    params = copy.deepcopy(params)
    for stage in ("world", "bootstrap_clip", "bootstrap_vlm", "bootstrap_report", "ingest", "embed", "diagnose@r1",
                  "mixture@r1", "generate@r1", "filter@r1", "train@r1", "evaluate@r1", "audit@r1"):
        assert f"Running stage '{stage}'" in log

    bootstrap = json.loads((repo / "metrics/r0/bootstrap.json").read_text())
    cards = {"clip": read_card_metrics(repo / "data/models/clip"),
             "vlm": read_card_metrics(repo / "data/rounds/r0/model")}
    assert bootstrap == pytest.approx(flatten(cards), abs=1e-6)
    for key in ("clip.recall_at_10", "clip.zeroshot_type_accuracy", "vlm.probe_accuracy.overall",
                "vlm.valid_answer_rate", "vlm.distinct_answers.counting", "vlm.majority_baseline.table"):
        assert key in bootstrap, key
    assert (repo / "data/rounds/r0/model/README.md").exists() and (repo / "data/models/clip/README.md").exists()

    trained = json.loads((repo / "metrics/r1/train.json").read_text())  # the round gate ran on dev's gate half
    assert trained["gate.items"] == len(CELLS) and trained["gate.step"] in (0.0, *params["train"]["gate"]["steps"])

    evaluation = json.loads((repo / "metrics/r1/evaluate.json").read_text())
    results = pl.read_parquet(repo / "data/rounds/r1/evaluation.parquet")
    assert evaluation["items"] == results.height == len(CELLS)
    assert evaluation["accuracy.overall"] == round(results["correct"].mean(), 6)  # the metric is the graded table
    assert {f"accuracy.{c}" for c in CATEGORIES} <= set(evaluation)
    probe = artifacts.read_table(repo / "data/rounds/r1/probe_results.parquet", schemas.RESULTS)
    diagnosis = artifacts.read_json(repo / "data/rounds/r1/diagnosis.json", schemas.Diagnosis)
    assert diagnosis.accuracy == res.accuracy(pl.from_arrow(probe)) and diagnosis.items == probe.num_rows
    quotas = artifacts.read_json(repo / "data/rounds/r1/mixture.json", schemas.Mixture).quotas
    assert sum(quotas.values()) == 8
    generated = json.loads((repo / "metrics/r1/generate.json").read_text())
    assert generated["accepted"] == 8 and "unfilled" not in generated

    samples = artifacts.read_table(repo / "data/rounds/r1/samples.lance", schemas.SAMPLES).to_pylist()
    assert len(samples) == generated["accepted"]
    assert all(s["round"] == "r1" and s["cell"] in quotas and len(s["source_image_id"]) == 64 for s in samples)
    assert all(json.loads(s["edits"]) for s in samples)  # every sample went through the editor
    attempts = artifacts.read_table(repo / "data/rounds/r1/attempts.lance", schemas.ATTEMPTS)
    assert attempts.num_rows == generated["attempts"]
    assert (repo / "data/rounds/r1/model/config.json").exists()

    history = (repo / "metrics/r1/accuracy.csv").read_text().splitlines()
    assert history[0] == "round,category,accuracy"
    assert {line.split(",")[0] for line in history[1:]} == {"r0", "r1"}
    assert f"r1,overall,{round(evaluation['accuracy.overall'], 6)}" in history
    shown = json.loads(run(["dvc", "plots", "show", "--json", "metrics/r1/accuracy.csv"], repo))
    (plot,) = shown["data"]["metrics/r1/accuracy.csv"]
    # drawn with the project's template (.dvc/plots/accuracy_by_category.json): one line per category
    assert plot["content"]["encoding"]["color"]["field"] == "category"
    assert plot["content"]["encoding"]["y"]["title"] == "evaluation accuracy"
    assert {v["round"] for v in plot["content"]["data"]["values"]} == {"r0", "r1"}

    assert stages_to_run(repo) == set()  # nothing changed: nothing to run
    assert "Running stage" not in run(["dvc", "repro"], repo)

    params["mixture"]["budget"] = 6
    set_params(repo, params)
    # the check stage (every key of params.yaml) follows any params change; downstream reruns follow mixture's outs
    assert stages_to_run(repo) == {"check", "mixture@r1"}
    params["mixture"]["budget"] = 8
    set_params(repo, params)

    # The shared prompt template changes: every stage that asks the model must rerun, nothing else.
    prompts = repo / "pipeline/answers/prompts.py"
    original = prompts.read_text()
    prompts.write_text(original.replace('"Answer with a number."', '"Answer with a single number."'))
    changed = stages_to_run(repo)
    assert {"diagnose@r1", "filter@r1", "train@r1", "evaluate@r1", "evaluate_base", "bootstrap_vlm"} <= changed
    assert not changed & {"world", "ingest", "embed", "mixture@r1", "round_zero"}
    prompts.write_text(original)

    # The training phase changes (its code, or a new key in its params section): training and what follows it
    # rerun, no stage before it. A user's model code (models/bases.py) reruns neither the world nor a mixture.
    before_training = {"world", "bootstrap_clip", "bootstrap_vlm", "bootstrap_report", "ingest", "embed",
                       "round_zero", "evaluate_base", "diagnose@r1", "mixture@r1", "generate@r1"}
    for module, touches in (("pipeline/training/params.py", "train@r1"), ("pipeline/training/grpo.py", "train@r1"),
                            ("pipeline/models/bases.py", "bootstrap_vlm")):
        source = repo / module
        original = source.read_text()
        source.write_text(original + "\n# a change\n")
        changed = stages_to_run(repo)
        assert touches in changed, (module, changed)
        assert not changed & (before_training if "training" in module else {"world", "mixture@r1"}), (module, changed)
        source.write_text(original)
    params["train"]["new_knob"] = 1
    set_params(repo, params)
    assert stages_to_run(repo) == {"check", "train@r1"}
    del params["train"]["new_knob"]
    set_params(repo, params)

    params["rounds"]["r2"] = {"prev": "r1"}
    set_params(repo, params)
    assert stages_to_run(repo) == {"check"} | {f"{s}@r2" for s in ("diagnose", "mixture", "generate", "filter",
                                                                    "train", "evaluate", "audit")}
    set_params(repo, micro_repo[1])

    # `dvc exp run` retrains in the workspace; once the workspace is back at HEAD nothing is stale (the trainer's
    # resume state, which the experiment rewrote, is scratch and not an out)
    commit(repo, "baseline")
    run(["dvc", "exp", "run", "-S", "train.max_steps=1", "train@r1"], repo)
    assert json.loads((repo / "metrics/r1/train.json").read_text())["steps"] == 1
    run(["git", "checkout", "--", "."], repo)
    run(["dvc", "checkout"], repo)
    assert stages_to_run(repo) == set()


def fails(cmd: list[str], cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DPE_THREADS": "1",
                        "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0, f"{cmd} succeeded:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.timeout(600)  # the session's first repro runs in the setup of whichever test comes first
def test_changed_generation_code_regenerates_instead_of_replaying_the_journal(micro_repo):
    """generate's outs persist (a killed run resumes its journal), so the journal is keyed by the code that made
    it too: after a change to the world's writer, `dvc repro` makes new samples, not the old ones again."""
    from pipeline.storage import schemas

    repo, _, _ = micro_repo
    samples = repo / "data/rounds/r1/samples.lance"
    old = artifacts.read_table(samples, schemas.SAMPLES).column("question").to_pylist()
    assert old and not any(q.endswith("Look closely.") for q in old)
    agents = repo / "pipeline/world/agents.py"
    code = agents.read_text()
    assert code.count("Reply(Draft(q.question, ") == 1
    agents.write_text(code.replace("Reply(Draft(q.question, ", "Reply(Draft(q.question + ' Look closely.', "))
    log = run(["dvc", "repro", "-s", "generate@r1"], repo)
    assert "Running stage 'generate@r1'" in log and "resuming" not in log
    new = artifacts.read_table(samples, schemas.SAMPLES).column("question").to_pylist()
    assert new and all(q.endswith("Look closely.") for q in new)


@pytest.mark.timeout(600)  # the session's first repro runs in the setup of whichever test comes first
def test_a_misspelt_params_key_stops_every_way_of_running_before_any_work(micro_repo):
    """A top-level key no stage reads is a typo: `dvc repro` (where only the check stage sees the change),
    `dvc repro -s <stage>` and `dvc exp run -S +key=...` all stop naming it, and no out changes."""
    repo, params, _ = micro_repo
    commit(repo, "baseline")
    mixture = repo / "data/rounds/r1/mixture.json"
    before = mixture.read_bytes()
    set_params(repo, params | {"mixtrue": {"strategy": "uniform"}})
    out = fails(["dvc", "repro"], repo)  # only the check stage sees the change, and it runs first
    assert "mixtrue: unknown top-level key" in out and "mixture" in out.split("The sections are:")[1]
    assert "Running stage 'check'" in out and out.count("Running stage") == 1 and mixture.read_bytes() == before
    out = fails(["dvc", "repro", "-s", "-f", "mixture@r1"], repo)  # the stage itself refuses the file
    assert "mixtrue: unknown top-level key" in out
    set_params(repo, params)  # DVC removed the forced stage's outs (and its uncached metrics) before it ran:
    run(["dvc", "repro"], repo)  # the fixed file makes them again, the same
    assert mixture.read_bytes() == before and stages_to_run(repo) == set()
    out = fails(["dvc", "exp", "run", "-S", "+mixture_typo_key=3"], repo)
    assert "mixture_typo_key: unknown top-level key" in out
    assert mixture.read_bytes() == before


CRASH_STAGES = ["ingest", "embed", "diagnose@r1", "generate@r1", "filter@r1", "train@r1", "evaluate@r1"]


@pytest.mark.slow
def test_killed_mid_run_every_stage_recovers_to_the_same_artifacts(micro_repo):
    """SIGKILL each stage at a named point of its work (its lake table removed first for ingest and embed, so they
    write afresh), then `dvc repro`: it must finish, leave `dvc status` clean and every out as an uninterrupted run
    leaves it. DPE_CRASH_TRIALS=20 is the slow mode, each trial at the next point and pass (tests/crash.py;
    DPE_CRASH_REPORT=file.json keeps every trial; DPE_CRASH_STAGES=a,b only those stages)."""
    from tests import crash

    repo, params, _ = micro_repo
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DPE_THREADS": "1",
                        "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "DVC_NO_ANALYTICS": "1"}
    before = {"ingest": crash.drop_lake_tables("pool.lance", "quarantine.lance"),
              "embed": crash.drop_lake_tables("pool_vectors_*.lance")}
    trials = int(os.environ.get("DPE_CRASH_TRIALS", "1"))
    assert stages_to_run(repo) == set()
    reference = crash.fingerprint(repo)
    results = []
    stages = os.environ.get("DPE_CRASH_STAGES", ",".join(CRASH_STAGES)).split(",")
    assert set(stages) <= set(CRASH_STAGES), f"DPE_CRASH_STAGES: choose among {CRASH_STAGES}"
    for stage in stages:
        crash.force(stage, repo, env)
        assert crash.differences(reference, crash.fingerprint(repo)) == {}, f"{stage} is not deterministic"
        for index in range(trials):
            result = crash.trial(stage, repo, env, index, before.get(stage))
            result["differences"] = crash.differences(reference, crash.fingerprint(repo))
            results.append(result)
            crash.write_report(os.environ.get("DPE_CRASH_REPORT"), results)  # as it goes: the slow mode is long
    bad = [r for r in results if not (r["recovered"] and r["clean"] and not r["differences"])]
    assert not bad, json.dumps(bad, indent=1, default=str)
    unkilled = [r["stage"] for r in results if not r["killed"] and r["point"].endswith(":1")]
    assert not unkilled, f"stages that never reached their first kill point: {unkilled}"


@pytest.mark.slow
def test_audit_with_its_control_arm_and_ablations_then_the_report_in_a_browser(micro_repo, tmp_path):
    """dpe audit --run-control --ablate on the committed micro run: the uniform arm and one experiment per cell
    r1 trained on, the audit against that arm, the ablation matrix; then dpe report opens cleanly in Chromium."""
    import pyarrow.parquet as pq

    from pipeline.run.repository import read_text_at
    from tests.browser import check_page, screenshot

    repo, params, _ = micro_repo
    dpe = [sys.executable, "-m", "pipeline.cli"]
    set_params(repo, params)
    commit(repo, "the run to audit")
    set_params(repo, merge(params, {"seed": 3}))
    done = subprocess.run(dpe + ["audit", "--run-control"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 2 and "commit them first" in done.stderr  # experiments never eat local changes
    set_params(repo, params)
    assert subprocess.run(dpe + ["audit", "--ablate"], cwd=repo, capture_output=True).returncode == 2  # no --round

    out = run(dpe + ["audit", "--run-control", "--ablate", "--round", "r1", "--width", "200"], repo)
    flat = " ".join(out.split())  # a narrow table wraps its title
    assert "audit of r1" in flat and "accuracy attributable to each cell" in flat
    refs = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).split()
    exps = {ref.split("/")[-1]: sha for ref, sha in zip(refs[::2], refs[1::2])}
    audited = json.loads((repo / "metrics/r1/audit.json").read_text())
    assert audited["control.status"] == "found" and audited["control.commit"] == exps["uniform"]
    assert audited["noise.runs"] == 2 and set(audited["noise.commits"].split()) == {exps["reseed-r1-1"],
                                                                                    exps["reseed-r1-2"]}
    cells = pq.read_table(repo / "data/rounds/r1/audit/cells.parquet").to_pylist()
    assert all(r["noise"] is not None for r in cells)  # what `fixed` must beat, measured for every row
    overall_items = sum(r["items"] for r in cells if r["level"] == "category")
    assert overall_items == len(CELLS) and all(r["control_change"] is not None for r in cells if r["items"] > 1)
    trainset = pq.read_table(repo / "data/rounds/r1/trainset.parquet").to_pylist()
    assert sorted(i for r in cells if r["level"] == "cell" for i in r["trained_ids"]) == sorted(
        r["sample_id"] for r in trainset)
    chain = pl.read_parquet(repo / "data/rounds/r1/audit/lineage.parquet")
    assert chain["source_uri"].null_count() == 0 and chain["source_uri"][0].startswith("world://pool/")
    assert chain.filter(pl.col("kept"))["trained_in"].to_list() == ["r1/model"] * len(trainset)
    assert "control arm 'uniform' at" in (repo / "data/rounds/r1/audit/summary.md").read_text()

    matrix = json.loads((repo / "metrics/r1/ablation.json").read_text())
    kept = {}
    for r in trainset:
        kept[r["cell"]] = kept.get(r["cell"], 0) + 1
    assert {c: row["samples"] for c, row in matrix["cells"].items()} == kept
    for cell, row in matrix["cells"].items():
        assert exps[row["experiment"]] == row["commit"] and "overall" in row["categories"]
        trained = json.loads(read_text_at(row["commit"], "metrics/r1/train.json", repo))
        assert trained["ablated"] == kept[cell] and trained["ablated_cells"] == cell
    noise = matrix["noise"]
    assert len(noise["runs"]) == 2 and set(noise["runs"]) <= set(exps.values()) and "overall" in noise["largest_change"]
    assert all(v["significant"] <= v["excludes_zero"] for row in matrix["cells"].values()
               for v in row["categories"].values())
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["ablate"] == {}  # workspace restored
    assert stages_to_run(repo) == set()
    logs = {p.name: p.stat().st_mtime for p in (repo / "data/audit/logs").iterdir()}
    commit(repo, "audited")  # the refreshed audit and the matrix, as a user would
    run(dpe + ["audit", "--ablate", "--round", "r1"], repo)  # same inputs, another commit: no experiment reruns
    assert {p.name: p.stat().st_mtime for p in (repo / "data/audit/logs").iterdir()} == logs

    page = repo / "report.html"
    assert "wrote" in run(dpe + ["report", "--out", str(page)], repo)
    text = page.read_text()
    assert "uniform" in text and "which data did what" in text and "world://pool/" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing to fetch: it opens offline
    seen = check_page(page, tmp_path)
    assert seen["problems"] == [] and seen["broken"] == [] and seen["logged"] == [], seen
    assert seen["images"] >= len(trainset) and seen["svgs"] >= 5  # accuracy, mixture, pass rates, curves, ablation
    shot = screenshot(page, tmp_path / "report.png")
    assert shot.stat().st_size > 20_000


@pytest.mark.slow
def test_a_clone_pulls_from_a_dvc_remote_reruns_nothing_and_rebuilds_the_lake_only_when_a_stage_reads_it(
        micro_repo, tmp_path, monkeypatch):
    """`dvc push`, a fresh clone, `dvc pull`: `dvc repro` reruns no stage, although the clone has no lake (not a
    DVC out). A change that reruns generate rebuilds the pinned pool and vectors from the sources first."""
    from pipeline.storage import lake

    repo, params, _ = micro_repo
    remote = str(tmp_path / "remote")
    set_params(repo, params)
    commit(repo, "the run to clone")
    run(["dvc", "remote", "add", "--local", "-d", "store", remote], repo)
    run(["dvc", "push", "-q"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    run(["dvc", "remote", "add", "--local", "-d", "store", remote], clone)
    run(["dvc", "pull", "-q"], clone)
    assert not (clone / "data/lake").exists()
    assert stages_to_run(clone) == set()
    assert "Running stage" not in run(["dvc", "repro"], clone)

    set_params(clone, merge(params, {"generate": {"top_k": 8}}))
    log = run(["dvc", "repro", "generate@r1"], clone)
    assert "Running stage 'generate@r1'" in log and "Running stage 'ingest'" not in log
    assert "lacks the pinned pool" in log and "lacks the pinned vectors" in log
    monkeypatch.chdir(clone)  # manifests name the lake relative to the repository
    pool = artifacts.read_manifest("data/manifests/ingest.json")
    pinned = lake.open_pinned(pool)
    assert pinned.count_rows() == pool.rows
    assert json.loads((clone / "metrics/r1/generate.json").read_text())["accepted"] == 8


FAKE_KEY = "sk-test-DO-NOT-LEAK-4242"


@pytest.mark.slow
def test_a_round_on_a_folder_of_photos_through_the_openai_backend(micro_repo, monkeypatch):
    """A user's own pool: ordinary photos (no scene records) in a folder, agents behind an OpenAI-compatible
    endpoint, the whole round through DVC; then the same round when the agents produce nothing."""
    from pipeline.storage import lake, schemas
    from tests.servers import Endpoint, photo_agents

    repo, params, _ = micro_repo
    shutil.copytree(REPO / "tests/fixtures/photos", repo / "photos", dirs_exist_ok=True)
    monkeypatch.setenv("DPE_TEST_KEY", FAKE_KEY)
    run([sys.executable, "-m", "pipeline.cli", "overlay", "own_pool"], repo)  # the bundled example, as a user would
    own = yaml.safe_load((repo / "params.yaml").read_text())
    assert own["pool"]["sources"] == [{"uri": "photos", "glob": "**/*.jpg"}] and own["generate"]["concurrency"] > 1
    endpoint = Endpoint(script=photo_agents)
    try:
        own = merge(own, {"generate": {"openai": {"base_url": endpoint.url, "model": "scripted",
                                                  "api_key_env": "DPE_TEST_KEY", "max_retries": 0}}})
        set_params(repo, own)
        log = run(["dvc", "repro"], repo)
        for stage in ("ingest", "embed", "generate@r1", "filter@r1", "train@r1"):
            assert f"Running stage '{stage}'" in log
        assert "Running stage 'diagnose@r1'" not in log  # the pool does not change the diagnosis
        gate = json.loads((repo / "metrics/r1/train.json").read_text())["gate.step"]
        # a round the gate carries over leaves r1's model as it was, and DVC rightly skips its evaluation
        assert ("Running stage 'evaluate@r1'" if gate else "Stage 'evaluate@r1' didn't change") in log

        ingested = json.loads((repo / "metrics/ingest.json").read_text())
        assert ingested["rows"] == 13 and ingested["quarantined.truncated_or_corrupt"] == 1  # broken.jpg
        generated = json.loads((repo / "metrics/r1/generate.json").read_text())
        samples = artifacts.read_table(repo / "data/rounds/r1/samples.lance", schemas.SAMPLES).to_pylist()
        assert generated["accepted"] == len(samples) >= 4 and generated["calls.writer"] >= len(samples)
        calls = sum(v for k, v in generated.items() if k.startswith("calls."))
        assert generated["tokens.prompt"] == 50 * calls and generated["tokens.writer.prompt"] == 50 * generated[
            "calls.writer"]
        assert generated["per_accepted.calls"] == round(calls / generated["accepted"], 6)
        assert all(r["auth"] == f"Bearer {FAKE_KEY}" for r in endpoint.requests)
        monkeypatch.chdir(repo)  # the manifest names the lake as params do, relative to the repo
        pool = lake.open_pinned(artifacts.read_manifest("data/manifests/ingest.json"))
        sources = dict(zip(*lake.fetch_rows(pool, [s["source_image_id"] for s in samples],
                                            ["image_id", "sources"]).to_pydict().values()))
        names = [Path(sources[s["source_image_id"]][0]).name for s in samples]
        assert not {"chelsea.jpg", "chelsea_again.jpg"} <= set(names)  # one picture, ingested twice: used once
        for s in samples:
            assert s["backend"] == "openai" and s["validator_answer"] == s["answer"] in ("bright", "dark")
            assert json.loads(s["edits"])[0]["op"] == "box" and set(json.loads(s["role_models"])) == set(
                ("planner", "selector", "editor", "writer", "validator"))
        filtered = json.loads((repo / "metrics/r1/filter.json").read_text())
        assert filtered["samples"] == len(samples) and (repo / "data/rounds/r1/model/config.json").exists()
        run([sys.executable, "-m", "pipeline.cli", "report", "--out", "report.html"], repo)
        leaks = [str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
        assert leaks == []  # no Lance row, parquet, metrics file, dvc.lock, params file, DVC cache object or report
        assert FAKE_KEY not in log

        own["generate"]["openai"]["model"] = "mute"  # agents that write nothing usable
        set_params(repo, own)
        log = run(["dvc", "repro"], repo)
    finally:
        endpoint.close()
        set_params(repo, params)
    generated = json.loads((repo / "metrics/r1/generate.json").read_text())
    assert generated["accepted"] == 0 and generated["rejected.invalid_reply.writer"] == generated["attempts"]
    assert json.loads((repo / "metrics/r1/filter.json").read_text())["samples"] == 0
    assert "empty training set: checkpoint carried over unchanged" in log
    assert (repo / "data/rounds/r1/model/config.json").exists()


@pytest.mark.slow
def test_a_round_from_your_own_checkpoint_clip_and_lora_through_dvc(micro_repo, tmp_path):
    """model.base, clip.model and train.lora by params alone: round r0 is a pin, the pool is embedded again by
    the new CLIP, the round's out is an adapter, and the training curves plot."""
    import pyarrow.parquet as pq

    from pipeline.models import clip
    from pipeline.models.params import ClipConfig
    from tests import families

    repo, params, _ = micro_repo
    base = families.build("idefics3", tmp_path / "idefics3")
    corpus = pq.read_table(repo / "data/world/clip.parquet").to_pydict()
    clip.train_clip(corpus["image"], corpus["caption"], ClipConfig(embed_dim=16, width=32, layers=1, steps=5),
                    seed=7, out=tmp_path / "clip")
    own = merge(params, {"model": {"base": str(base)}, "clip": {"model": f"local-dir:{tmp_path / 'clip'}"},
                         "train": {"lora": {"rank": 2}, "reference": "previous"}})
    try:
        set_params(repo, own)
        log = run(["dvc", "repro"], repo)
        for stage in ("bootstrap_clip", "bootstrap_vlm", "embed", "diagnose@r1", "train@r1", "evaluate@r1"):
            assert f"Running stage '{stage}'" in log
        r0 = repo / "data/rounds/r0/model"
        assert json.loads((r0 / "base.json").read_text())["model_type"] == "idefics3"
        assert not list(r0.glob("*.safetensors"))  # pinned, not copied into the DVC cache
        embedded = json.loads((repo / "metrics/embed.json").read_text())
        assert embedded["added"] == embedded["rows"] and embedded["model"] == clip.fingerprint(tmp_path / "clip")
        r1 = repo / "data/rounds/r1/model"
        assert (r1 / "adapter_model.safetensors").exists() and not (r1 / "model.safetensors").exists()
        assert json.loads((r1 / "lineage.json").read_text()) == {"root": "data/rounds/r0/model", "chain": "stack"}
        shown = json.loads(run(["dvc", "plots", "show", "--json", "metrics/r1/train_curves.csv"], repo))
        (plot,) = shown["data"]["metrics/r1/train_curves.csv"]
        assert plot["content"]["facet"]["field"] == "series"  # .dvc/plots/training_curves.json: a panel each
        series = {v["series"] for v in plot["content"]["data"]["values"]}
        assert {"reward", "reward_std", "zero_std_share", "kl", "loss", "completion_length"} <= series
        trained = json.loads((repo / "metrics/r1/train.json").read_text())
        assert trained["resumed_from_step"] == 0 and "curves.reward.mean" in trained
        assert stages_to_run(repo) == set()
    finally:
        set_params(repo, params)
