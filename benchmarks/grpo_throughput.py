"""GRPO throughput on this machine: prompts per second for the embedded model, and the share of step time
spent generating completions versus the rest (log-probabilities, rewards, gradients), with full fine-tuning
and with a LoRA adapter, measured side by side in one run on the same prompts.

Uses round r0's model when `dvc repro bootstrap_vlm` has built it (else a random model of the same
architecture and size) and the default train params (8 completions for each of 4 prompts a step):

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.grpo_throughput [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from pipeline.config.params import load_params
from pipeline.models.checkpoint import load
from pipeline.training.grpo import grpo_trainer
from pipeline.training.params import LoraSection

REPO = Path(__file__).resolve().parents[1]


class GenerateTimer:
    """Wall time inside ``generate`` (outermost calls only: PEFT's generate calls the model's)."""

    def __init__(self):
        from transformers import GenerationMixin

        self.seconds, self.depth, self.original = 0.0, 0, GenerationMixin.generate
        timer = self

        def timed(model, *args, **kwargs):
            timer.depth += 1
            began = time.perf_counter()
            try:
                return timer.original(model, *args, **kwargs)
            finally:
                timer.depth -= 1
                if timer.depth == 0:
                    timer.seconds += time.perf_counter() - began

        GenerationMixin.generate = timed

    def close(self):
        from transformers import GenerationMixin

        GenerationMixin.generate = self.original


def model_folder(tmp: Path, params) -> Path:
    r0 = REPO / "data/rounds/r0/model"
    if (r0 / "config.json").exists():
        return r0
    from pipeline.models.vlm import (
        TinyVLMSpec,
        build_model,
        build_processor,
        train_tokenizer,
    )
    from tests.families import TEXTS

    cfg = params.bootstrap.vlm
    tok = train_tokenizer(TEXTS * 10, cfg.vocab_size)
    spec = TinyVLMSpec(image_size=params.world.image_size, vocab_size=len(tok), text_hidden=cfg.text_hidden,
                       text_layers=cfg.text_layers, vision_hidden=cfg.vision_hidden, vision_layers=cfg.vision_layers)
    build_model(spec, tok, params.seed).save_pretrained(tmp / "r0")
    build_processor(tok, params.world.image_size).save_pretrained(tmp / "r0")
    return tmp / "r0"


def measure(folder: Path, rows: list[dict], cfg, seed: int, max_new_tokens: int) -> dict:
    model, processor = load(folder)
    timer = GenerateTimer()
    try:
        with tempfile.TemporaryDirectory(prefix="dpe-bench-") as state:
            trainer = grpo_trainer(model, processor, rows, cfg, seed, max_new_tokens, state)
            began = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - began
    finally:
        timer.close()
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {"seconds": seconds, "steps": trainer.state.max_steps,
            "prompts_per_second": trainer.state.max_steps * cfg.prompts_per_step / seconds,
            "generate_share": timer.seconds / seconds, "other_share": 1 - timer.seconds / seconds,
            "trainable_parameters": trainable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--json", help="write the numbers here too (benchmarks/perf.py reads them)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params(REPO / "params.yaml")
    from tests.families import world_rows

    rows = [r | {"question": "How many shapes are there?"} for r in world_rows(args.steps * 4)]
    base = params.train.model_copy(update={"max_steps": args.steps, "epochs": 100.0, "save_steps": 0})
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(Path(tmp), params)
        results = {"model": str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else "random r0-sized"}
        for name, cfg in (("full", base), ("lora", base.model_copy(update={"lora": LoraSection(rank=16)}))):
            results[name] = measure(folder, rows, cfg, params.seed, params.answer.max_new_tokens)
    results["lora_vs_full_speed"] = results["lora"]["prompts_per_second"] / results["full"]["prompts_per_second"]
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
