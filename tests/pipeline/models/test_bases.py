"""model.base and clip.*: a user's checkpoint is pinned, checked on every load, and a bad one fails before the
stage that loads it works (and in `dpe check --deep`), with a message naming the param. Params validation itself
reads no model."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from pipeline.config.params import parse_params
from pipeline.models import clip
from pipeline.models.bases import BaseModelError, deep_check, pin_base
from pipeline.models.checkpoint import chain, load, write_base_reference
from tests import families


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return families.build("llava", tmp_path_factory.mktemp("llava") / "model")


def test_a_base_is_pinned_by_its_config_and_weight_index(llava, tmp_path):
    ref = write_base_reference(tmp_path / "r0", str(llava), None)
    assert (ref.source, ref.model_type, ref.revision) == (str(llava), "llava", None)
    assert sorted(p.name for p in (tmp_path / "r0").iterdir()) == ["base.json"]
    model, processor = load(tmp_path / "r0")
    assert type(model).__name__ == "LlavaForConditionalGeneration" and processor.chat_template

    changed = tmp_path / "changed"
    shutil.copytree(llava, changed)
    write_base_reference(tmp_path / "r0b", str(changed), None)
    config = json.loads((changed / "config.json").read_text())
    (changed / "config.json").write_text(json.dumps(config | {"note": "edited"}))
    with pytest.raises(BaseModelError, match="changed since round r0 pinned it.*config_hash"):
        chain(tmp_path / "r0b")


def test_a_hub_id_resolves_from_the_local_cache_offline(llava, tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-llava"
    shutil.copytree(llava, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    pin = pin_base("someone/tiny-llava")
    assert (pin["source"], pin["revision"], pin["model_type"]) == ("someone/tiny-llava", commit, "llava")
    with pytest.raises(BaseModelError, match="model.base = 'someone/absent'"):
        pin_base("someone/absent")


def text_only_model(out):
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(out)
    return out


def without_chat_template(llava, out):
    shutil.copytree(llava, out)
    for name in ("chat_template.jinja", "chat_template.json"):
        (out / name).unlink(missing_ok=True)
    for name in ("tokenizer_config.json", "processor_config.json"):
        config = out / name
        if config.exists():
            config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items()
                                          if k != "chat_template"}))
    return out


@pytest.mark.parametrize("case, message", [
    ("missing", "no such directory, and not a hub id"),
    ("text_only", "model_type 'llama' is not an image-text-to-text model"),
    ("no_template", "has no chat template"),
])
def test_a_bad_base_fails_the_deep_check_naming_the_param(case, message, llava, tmp_path):
    base = {"missing": lambda: tmp_path / "nowhere", "text_only": lambda: text_only_model(tmp_path / "llama"),
            "no_template": lambda: without_chat_template(llava, tmp_path / "bare")}[case]()
    params = parse_params({"model": {"base": str(base)}})  # validation reads no model
    with pytest.raises(BaseModelError, match=f"model.base = '{base}'.*{message}"):
        deep_check(params)


def test_the_stage_that_loads_the_base_refuses_a_bad_one_before_any_work(tmp_path):
    from pipeline.cli.main import main

    raw = yaml.safe_load((families.REPO / "params.yaml").read_text())
    raw["model"]["base"] = str(tmp_path / "nowhere")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "r0"
    missing = [a for flag in ("corpus", "captions", "probe", "dev") for a in (f"--{flag}", tmp_path / "none.parquet")]
    proc = families.run_stage("bootstrap_vlm", tmp_path / "params.yaml", *missing, "--out", out, "--state",
                              tmp_path / "state")
    assert proc.returncode == 2 and "model.base" in proc.stderr and "no such directory" in proc.stderr
    assert not out.exists() and "Traceback" not in proc.stderr
    assert main(["check", str(tmp_path / "params.yaml")]) == 0  # the shallow check reads no model
    assert main(["check", "--deep", str(tmp_path / "params.yaml")]) == 2


@pytest.mark.parametrize("model, pretrained, message", [
    ("ViT-Nope", "", "not an open_clip architecture"),
    ("ViT-S-32", "", "clip.pretrained is empty"),
    ("ViT-S-32", "no-such-tag", "not a pretrained tag of ViT-S-32"),
    ("local-dir:/nowhere", "", "has no open_clip_config.json"),
])
def test_a_bad_clip_fails_the_deep_check_naming_the_param(model, pretrained, message):
    params = parse_params({"clip": {"model": model, "pretrained": pretrained}})
    with pytest.raises(BaseModelError, match=message):
        deep_check(params)


@pytest.mark.slow
def test_any_open_clip_architecture_with_a_checkpoint_file_is_pinned_and_loads(tmp_path):
    import open_clip
    import torch

    model, _, _ = open_clip.create_model_and_transforms("ViT-S-32")
    torch.save(model.state_dict(), tmp_path / "vit-s-32.pt")
    params = parse_params({"clip": {"model": "ViT-S-32", "pretrained": str(tmp_path / "vit-s-32.pt")}})
    ref = clip.pin_clip(params.clip.model, params.clip.pretrained, tmp_path / "clip")
    assert ref.pretrained == str(tmp_path / "vit-s-32.pt") and clip.fingerprint(tmp_path / "clip") == ref.fingerprint
    loaded, preprocess, tokenizer = clip.load(tmp_path / "clip")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    other = tmp_path / "other.pt"
    torch.save({k: v + 1 for k, v in model.state_dict().items()}, other)
    assert clip.pin_clip("ViT-S-32", str(other), tmp_path / "clip2").fingerprint != ref.fingerprint


@pytest.mark.slow
def test_changing_the_clip_embeds_the_pool_again_incrementally(tiny_world, tmp_path):
    import pyarrow.parquet as pq

    from pipeline.models.params import ClipConfig
    from pipeline.pool.embed import embed_pool
    from pipeline.pool.ingest import ingest
    from pipeline.pool.params import DEFAULT_TYPE_PROMPTS, EmbedConfig, SearchConfig

    world, _, _ = tiny_world
    corpus = pq.read_table(world / "clip.parquet").to_pydict()
    for seed, dim in ((0, 32), (1, 32), (2, 16)):
        clip.train_clip(corpus["image"], corpus["caption"], ClipConfig(embed_dim=dim, width=32, layers=1, steps=2),
                        seed=seed, out=tmp_path / f"trained{seed}")
    pool, _ = ingest([str(world / "pool.parquet")], str(tmp_path / "lake"), 10**7)
    embed = lambda folder: embed_pool(pool, str(folder), dict(DEFAULT_TYPE_PROMPTS), EmbedConfig(),  # noqa: E731
                                      SearchConfig())[1]
    first = embed(tmp_path / "trained0")  # the embedded default's folder
    assert first["added"] == first["rows"] > 0
    for seed in (1, 2):  # another CLIP as clip.model: local-dir:<folder> (the same width, then another width)
        params = parse_params({"clip": {"model": f"local-dir:{tmp_path / f'trained{seed}'}"}})
        clip.pin_clip(params.clip.model, params.clip.pretrained, tmp_path / f"pinned{seed}")
        stats = embed(tmp_path / f"pinned{seed}")
        assert stats["added"] == first["rows"] and stats["model"] == clip.fingerprint(tmp_path / f"trained{seed}")
    assert embed(tmp_path / "trained0")["added"] == 0  # switching back re-embeds nothing
    assert embed(tmp_path / "pinned1")["added"] == 0
