import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.cli.main import main
from pipeline.config.overlay import append_rounds, apply_overlay, bundled, merge, next_rounds
from pipeline.config.params import ParamsError, load_params

REPO = Path(__file__).resolve().parents[3]


def test_merge_sections_by_key_and_replace_everything_else():
    base = {"generate": {"top_k": 16, "edits": ["blur", "box"], "dedup": {"question": True, "image_distance": 12},
                         "prices": {"a": [1, 2]}}, "embed": {"type_prompts": {"shapes": "s", "table": "t"}},
            "seed": 0}
    merge(base, {"generate": {"edits": ["crop"], "dedup": {"question": False}, "prices": {"b": [3, 4]}},
                 "embed": {"type_prompts": {"photo": "a photograph"}}, "seed": 1})
    assert base == {"generate": {"top_k": 16, "edits": ["crop"], "dedup": {"question": False, "image_distance": 12},
                                 "prices": {"b": [3, 4]}}, "embed": {"type_prompts": {"photo": "a photograph"}},
                    "seed": 1}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A local Hugging Face cache holding a tiny random model under each hub id a bundled overlay names, so the
    overlays' model.base pins resolve offline as on a machine that downloaded the real one."""
    import huggingface_hub.constants as hub

    from tests import families

    cache = tmp_path / "hub"
    for name in bundled():
        base = (yaml.safe_load((REPO / "pipeline/config/overlays" / f"{name}.yaml").read_text()).get("model") or {}).get("base")
        if base and "/" in base and not Path(base).exists():
            repo = cache / f"models--{base.replace('/', '--')}"
            families.build("qwen2_5_vl", repo / "snapshots" / ("0" * 40))
            (repo / "refs").mkdir()
            (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return cache


@pytest.mark.parametrize("name", bundled())
def test_bundled_overlays_validate_on_the_repository_params(tmp_path, name, hub_cache):
    out = tmp_path / "params.yaml"
    apply_overlay(REPO / "params.yaml", name, out)
    load_params(out)
    merged = yaml.safe_load(out.read_text())
    overlay = yaml.safe_load((REPO / "pipeline/config/overlays" / f"{name}.yaml").read_text())

    def leaves(tree, path=()):
        for key, value in tree.items():
            yield from leaves(value, path + (key,)) if isinstance(value, dict) and value else [(path + (key,), value)]

    for path, value in leaves(overlay):
        got = merged
        for key in path:
            got = got[key]
        assert got == value, path


def test_own_pool_overlay_changes_only_its_keys_and_keeps_comments(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    assert main(["overlay", "own_pool", "--params", str(params)]) == 0
    merged, before = load_params(params), load_params(REPO / "params.yaml")
    assert merged.generate.backend == "openai" and merged.generate.openai.api_key_env == "VLLM_API_KEY"
    assert merged.pool.sources[0].glob == "**/*.jpg" and merged.pool.lake == "data/own_lake"
    assert merged.generate.edits == before.generate.edits and merged.train == before.train
    assert merged.probe == before.probe and merged.generate.openai.timeout == before.generate.openai.timeout
    text = params.read_text()
    assert "# Every knob of the pipeline." in text and "# the NAME of the variable holding the key" in text


def test_an_overlay_that_breaks_params_writes_nothing(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    bad = tmp_path / "bad.yaml"
    bad.write_text("generate:\n  concurrency: 0\n")
    assert main(["overlay", str(bad), "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "generate.concurrency" in err
    assert params.read_text() == (REPO / "params.yaml").read_text()
    with pytest.raises(ParamsError, match="no bundled overlay of that name.*own_pool"):
        apply_overlay(params, "own_poll")
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping"):
        apply_overlay(params, bad)


def test_append_rounds_adds_chained_rounds_and_changes_nothing_else(tmp_path):
    params = tmp_path / "params.yaml"
    original = (REPO / "params.yaml").read_text()
    params.write_text(original)
    assert append_rounds(params, 2) == ["r3", "r4"]
    text = params.read_text()
    assert text.startswith(original.rstrip("\n")) and text[len(original.rstrip("\n")):].split() == [
        "r3:", "{prev:", "r2}", "r4:", "{prev:", "r3}"]
    assert next_rounds(["base", "r7"], 1) == [("r8", "r7")] and next_rounds(["warmup"], 1) == [("r1", "warmup")]
