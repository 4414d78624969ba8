"""train.lora: a round's out is its LoRA adapter; stacked rounds load with stock transformers + peft in one call,
and a stack of two rounds is the same model as the merge chain of the same two rounds."""

from __future__ import annotations

import json

import pytest
import torch

from pipeline.answers.prompts import user_message
from pipeline.config.params import parse_params
from pipeline.models.checkpoint import chain, load
from pipeline.storage import artifacts, schemas
from pipeline.storage.images import decode_rgb
from pipeline.training.adapters import stack_updates
from pipeline.training.train import train_round
from tests import families


def test_stacking_two_updates_is_their_sum():
    torch.manual_seed(0)
    a1, b1, a2, b2 = torch.randn(2, 5), torch.randn(3, 2), torch.randn(4, 5), torch.randn(3, 4)
    key_a, key_b = "m.q_proj.lora_A.weight", "m.q_proj.lora_B.weight"
    out = stack_updates({key_a: a1, key_b: b1}, 0.5, {key_a: a2, key_b: b2}, 2.0)
    assert out[key_a].shape == (6, 5) and out[key_b].shape == (3, 6)
    assert torch.allclose(out[key_b] @ out[key_a], 0.5 * b1 @ a1 + 2.0 * b2 @ a2, atol=1e-6)
    with pytest.raises(ValueError, match="target_modules"):
        stack_updates({key_a: a1}, 1.0, {key_b: b2}, 1.0)


def logits(folder, rows):
    return first_logits(*load(folder), rows)


def first_logits(model, processor, rows):
    """The next-token logits after each row's prompt, rendered the way the stages render it."""
    chats = [user_message(r["question"], r["answer_type"], r["options"]) for r in rows]
    text = processor.apply_chat_template(chats, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=text, images=[[decode_rgb(r["image"])] for r in rows], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**inputs).logits[:, -1].float()


@pytest.mark.slow
def test_two_lora_rounds_stack_into_one_adapter_that_stock_loaders_read(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    base = families.build("qwen2_5_vl", tmp_path / "r0", warm_up=40)
    rows = [r | {f.name: r.get(f.name) for f in schemas.TRAINSET} | {"sample_id": r["item_id"], "pass_rate": 0.5}
            for r in families.world_rows(6)]
    for r, colour in zip(rows, ["red", "blue"] * 3):
        r.update(question="What colour is the shape?", answer_type="word", answer=colour)
    trainset = tmp_path / "trainset.parquet"
    artifacts.write_parquet(trainset, rows, schemas.TRAINSET)
    rows = artifacts.read_table(trainset, schemas.TRAINSET).to_pylist()

    def rounds(mode: str):
        params = parse_params({"train": {"max_steps": 2, "num_generations": 4, "prompts_per_step": 2, "save_steps": 0,
                                         "learning_rate": 0.01, "lora": {"rank": 2, "alpha": 4, "chain": mode},
                                         "reference": "previous", "gate": {"enabled": False}},
                               "answer": {"max_new_tokens": 3}})
        previous = base
        for name in ("r1", "r2"):
            out = tmp_path / mode / name
            train_round(rows, str(trainset), str(previous), str(out), str(tmp_path / mode / f"{name}_state"), params,
                        seed=1)
            previous = out
        return previous

    stacked, merged = rounds("stack"), rounds("merge")
    config = json.loads((stacked / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["base_model_name_or_path"] == str(base)  # both rounds, on the full base
    assert json.loads((merged / "adapter_config.json").read_text())["r"] == 2  # its own round only
    assert chain(merged).adapters == (tmp_path / "merge" / "r1", merged) and chain(stacked).adapters == (stacked,)
    weights = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    assert (stacked / "adapter_model.safetensors").stat().st_size < weights / 10

    ours = logits(stacked, rows)
    assert not torch.allclose(ours, logits(base, rows), atol=1e-4), "two rounds of GRPO changed nothing"
    assert torch.allclose(ours, logits(merged, rows), atol=1e-4), "the stack differs from the merge chain"
    # The README's snippet: stock transformers (with peft installed) loads the round folder in one call.
    stock = AutoModelForImageTextToText.from_pretrained(stacked)
    processor = AutoProcessor.from_pretrained(stacked)
    processor.tokenizer.padding_side = "left"
    assert torch.allclose(first_logits(stock, processor, rows), ours, atol=1e-4)
