"""Bring your own model: diagnose, filter, train and evaluate run on tiny random-weight models of five families
(built from configs, saved like hub checkpoints, offline), each pinned as round r0 with ``model.base``."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from pipeline.answers.engines import answer
from pipeline.answers.prompts import user_message
from pipeline.config.params import parse_params
from pipeline.diagnosis.diagnose import diagnose
from pipeline.diagnosis.evaluate import evaluate
from pipeline.models.checkpoint import load, write_base_reference
from pipeline.storage import artifacts, schemas
from pipeline.training.filter import filter_samples
from pipeline.training.train import train_round
from tests import families

# what each family's own chat template puts where the image goes (the processor then expands it)
IMAGE_MARK = {"qwen2_5_vl": "<|vision_start|>", "qwen2_vl": "<|vision_start|>", "llava": "<image>",
              "idefics3": "<image>", "gemma3": "<start_of_image>"}


def word_items(n: int) -> list[dict]:
    """The colour question the warm-up taught: sampled answers split between red and blue, so pass rates fall
    strictly between 0 and 1 and GRPO gets a reward spread to learn from."""
    return [r | {"question": "What colour is the shape?", "answer_type": "word", "answer": "red"}
            for r in families.world_rows(n)]


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_a_round_runs_on_a_random_model_of_each_family(family, tmp_path):
    base = families.build(family, tmp_path / "base", warm_up=60)
    params = parse_params({"model": {"base": str(base)}, "answer": {"max_new_tokens": 3, "batch_size": 4},
                           "train": {"max_steps": 2, "num_generations": 4, "prompts_per_step": 2, "save_steps": 1,
                                     "learning_rate": 0.01, "lora": {"rank": 2}, "reference": "previous",
                                     "gate": {"enabled": False}}})  # a random model: the plumbing, not the gate
    r0 = tmp_path / "r0"
    ref = write_base_reference(r0, params.model.base, None)
    assert ref.model_type == family and not list(r0.glob("*.safetensors"))  # a pin, not a copy

    model, processor = load(r0)
    rendered = processor.apply_chat_template([user_message("How many?", "integer")], add_generation_prompt=True,
                                             tokenize=False)
    assert IMAGE_MARK[family] in rendered[0] if isinstance(rendered, list) else IMAGE_MARK[family] in rendered

    items = word_items(8)
    results, diagnosis = diagnose(str(r0), items, params.diagnose, params.answer, "r1", seed=0)
    assert results.height == len(items) and set(results["round"]) == {"r1"}
    assert diagnosis.model == str(r0) and 0 <= diagnosis.accuracy <= 1

    completions = answer(model, processor, items, batch_size=4, max_new_tokens=3, samples=4, temperature=1.0,
                         seed=0)
    samples = [r | {f.name: r.get(f.name) for f in schemas.SAMPLES} | {"sample_id": r["item_id"]} for r in items]
    _, trainset, counts = filter_samples(samples, completions, 0.0, 1.0, 0, str(r0))
    assert counts["samples"] == len(items) and trainset
    spread = [r for r in trainset if 0 < r["pass_rate"] < 1]
    assert spread, f"no sampled answers split on any item: {completions}"

    path = tmp_path / "trainset.parquet"
    artifacts.write_parquet(path, spread, schemas.TRAINSET)
    rows = artifacts.read_table(path, schemas.TRAINSET).to_pylist()
    stats, history = train_round(rows, str(path), str(r0), str(tmp_path / "r1"), str(tmp_path / "state"), params, 0)
    assert stats["steps"] == 2 and any("reward" in h for h in history)
    weights = load_file(str(tmp_path / "r1" / "adapter_model.safetensors"))
    assert weights and not any(k for k in weights if any(v in k for v in ("visual", "vision_tower", "vision_model")))
    assert any(w.abs().sum() > 0 for k, w in weights.items() if "lora_B" in k), f"GRPO left the adapter at zero: {history}"

    evaluated = evaluate(str(tmp_path / "r1"), items, params.answer, "r1")
    assert evaluated.height == len(items)


def test_the_answer_engine_is_chosen_by_params_and_vllm_must_be_installed(tmp_path, monkeypatch):
    import importlib.util

    from pipeline.answers.engines import TransformersEngine, open_engine, vllm_installed
    from pipeline.config.params import ParamsError

    base = families.build("qwen2_vl", tmp_path / "m")
    for engine in ("transformers", "auto"):
        if engine == "auto" and vllm_installed():
            continue
        opened = open_engine(str(base), parse_params({"answer": {"engine": engine}}).answer)
        assert isinstance(opened, TransformersEngine)
        assert len(opened.answer(families.world_rows(2), max_new_tokens=2, samples=3, seed=0)[1]) == 3
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ParamsError, match="answer.engine = 'vllm'.*pip install vllm"):
        parse_params({"answer": {"engine": "vllm"}})
