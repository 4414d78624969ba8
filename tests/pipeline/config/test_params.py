import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config.params import Params, ParamsError, load_params, parse_params
from pipeline.config.sections import Section

REPO = Path(__file__).resolve().parents[3]


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.rounds["r1"].prev == "r0"


def test_params_rewritten_by_dvc_exp_run_set_stay_valid(tmp_path):
    """`dvc exp run -S` rewrites params.yaml with DVC's own YAML writer; every run of an experiment reads that."""
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    with modify_yaml(path) as raw:
        raw["round_seed"] = 3
    params = load_params(path)
    assert params.round_seed == 3 and params.train.vllm == "off"
    assert params == load_params(REPO / "params.yaml").model_copy(update={"round_seed": 3})


@pytest.mark.parametrize("raw,names", [
    ({"mixture": {"strategy": "bogus"}}, ["mixture.strategy", "'bogus'", "dpe_step"]),
    ({"mixture": {"budgett": 10}}, ["mixture.budgett", "unknown key"]),
    ({"filter": {"band_low": 0.9, "band_high": 0.1}}, ["band_low", "band_high"]),
    ({"world": {"pool_size": -5}}, ["world.pool_size", "-5", "greater than or equal to 10"]),
    ({"rounds": {"r1": {"prev": "r7"}}}, ["rounds.r1.prev", "'r7'"]),
    ({"rounds": {"round1": {"prev": "r0"}}}, ["rounds.round1"]),
    ({"train": {"learning_rate": "fast"}}, ["train.learning_rate", "'fast'"]),
    ({"pool": {"sources": [{"uri": "x", "kind": "zip"}]}}, ["pool.sources.0.kind", "'zip'", "lance"]),
    ({"pool": {"sources": [{"url": "x"}]}}, ["pool.sources.0.url", "unknown key"]),
    ({"pool": {"engine": "spark"}}, ["pool.engine", "'spark'", "ray"]),
    ({"search": {"nprobes": 0}}, ["search.nprobes", "greater than or equal to 1"]),
    ({"bootstrap": {"vlm": {"weak": {"text": 1.5}}}}, ["bootstrap.vlm.weak", "between 0 and 1", "'text': 1.5"]),
    ({"diagnose": {"judge": "oracle"}}, ["diagnose.judge", "'oracle'", "openai", "package.module:name"]),
    ({"generate": {"backend": "gpt"}}, ["generate.backend", "'gpt'", "world"]),
    ({"generate": {"edits": ["blur", "swirl"]}}, ["generate.edits", "swirl", "brightness"]),
    ({"filter": {"min_keep": 8, "max_keep": 4}}, ["filter", "max_keep (4)", "min_keep (8)"]),
    ({"filter": {"max_label_share": 0.5}}, ["filter", "max_label_share (0.5)", ">= 1"]),
    ({"train": {"blind": True}}, ["train", "train.blind", "train.gate.enabled: false"]),
    ({"diagnose": {"max_new_tokens": 8}}, ["diagnose.max_new_tokens", "unknown key"]),  # moved to answer
])
def test_bad_params_name_key_value_and_allowed(raw, names):
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    for name in names:
        assert name in str(err.value)


def _sections(model: type[Section], prefix: str = "") -> set[str]:
    """Every key of the schema, dotted; a field whose value is a section is walked into."""
    out = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, Section):
            out |= _sections(kind, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_key_is_in_params_yaml_and_code_defaults_equal_it():
    """DVC sees only what params.yaml says: a key that exists only in code, or a code default that
    differs from the file, would change results without rerunning anything."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())

    def present(dotted: str) -> bool:
        node = raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    missing = sorted(k for k in _sections(Params) if not present(k))
    assert not missing, f"keys only in code (add them to params.yaml): {missing}"
    assert Params().model_dump() == load_params(REPO / "params.yaml").model_dump()


def test_round_seed_moves_the_rounds_draws_and_nothing_else():
    base = parse_params({})
    other = parse_params({"round_seed": 7})
    assert base.seed_of("r1") != base.seed_of("r2")  # every round draws apart
    assert base.seed_of("r1") == parse_params({"round_seed": 0}).seed_of("r1")  # null means `seed`
    assert other.seed_of("r1") != base.seed_of("r1")
    assert other.world == base.world and other.bootstrap == base.bootstrap and other.seed == base.seed


def test_defaults_fill_missing_sections():
    params = parse_params({"seed": 5})
    assert params.seed == 5 and params.mixture.strategy == "dro"


def test_stage_stops_before_any_work_on_bad_params(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["world"]["pool_sise"] = 10
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "world"
    files = [a for name in ("pool", "scenes", "probe", "eval", "dev", "sft", "clip")
             for a in (f"--{name}", str(out / f"{name}.parquet"))]
    proc = subprocess.run([sys.executable, "-m", "stages.world", "--params", str(tmp_path / "params.yaml"),
                           *files, "--metrics", str(tmp_path / "m.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "world.pool_sise" in proc.stderr and "unknown key" in proc.stderr
    assert not out.exists() and not (tmp_path / "m.json").exists()


def test_cli_check(tmp_path, capsys):
    from pipeline.cli.main import main

    assert main(["check", str(REPO / "params.yaml")]) == 0
    assert "is valid" in capsys.readouterr().out
    (tmp_path / "p.yaml").write_text("mixture:\n  strategy: magic\n")
    assert main(["check", str(tmp_path / "p.yaml")]) == 2
    assert "mixture.strategy" in capsys.readouterr().err


def test_a_key_in_params_is_refused_without_echoing_it():
    secret = "sk-DO-NOT-ECHO-1234567890"
    for raw in ({"generate": {"openai": {"api_key": secret}}},
                {"generate": {"openai": {"roles": {"writer": {"model": "m", "api_key": "plain"}}}}},
                {"audit": {"control_set": {"generate.openai.base_url": secret}}}):
        with pytest.raises(ParamsError) as err:
            parse_params(raw)
        assert "environment variable" in str(err.value) and secret not in str(err.value) and "plain" not in str(err.value)
    assert parse_params({"generate": {"openai": {"api_key_env": "MY_KEY"}}}).generate.openai.api_key_env == "MY_KEY"


def test_cli_check_deps_prints_what_each_module_reruns(capsys):
    from pipeline.cli.main import main

    assert main(["check", "--deps", "--repo", str(REPO), "--width", "400"]) == 0
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert rows["pipeline/training/grpo.py"] == "train@*"
    assert "mixture@*" in rows["pipeline/mixture/mixture.py"] and "world" not in rows["pipeline/models/bases.py"]
    assert rows["pipeline/cli/main.py"].startswith("none")


def test_the_gate_may_not_read_the_evaluation_set():
    import yaml

    from pipeline.config.params import ParamsError, parse_params
    from tests import families

    raw = yaml.safe_load((families.REPO / "params.yaml").read_text())
    raw["train"]["gate"]["source"] = raw["evaluation"]["source"]
    with pytest.raises(ParamsError, match="train.gate.source and evaluation.source"):
        parse_params(raw)
    raw["train"]["gate"]["enabled"] = False
    parse_params(raw)


def test_the_sections_every_stage_checks_are_the_schemas_and_dvc_yamls():
    """params.SECTIONS (what a stage checks top-level keys against, without importing every schema) is the whole
    file's schema, and the repository's dvc.yaml declares nothing else."""
    from pathlib import Path

    from pipeline.config.params import Params
    from pipeline.config.sections import SECTIONS, declared_sections

    assert SECTIONS == set(Params.model_fields)
    assert declared_sections(Path(__file__).resolve().parents[3] / "dvc.yaml") <= SECTIONS
