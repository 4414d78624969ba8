"""Supervised warm-up of the tiny VLM (round r0) with trl's SFTTrainer.

It uses the prompt/completion format so the loss falls on the answer only: with the plain
``messages`` format the loss covered every token and the tiny model learned nothing.
"""

from __future__ import annotations

import logging
import random
import tempfile

from pipeline.models.trainer_args import common_args
from pipeline.prompts import user_message

log = logging.getLogger(__name__)


def curriculum(rows: list[dict], skew: dict[str, float], seed: int) -> list[dict]:
    """Resample the (uniform) SFT corpus with per-category weights ``skew`` (default 1): the knob that
    gives the base model uneven skills, so diagnosis has real weak spots to find."""
    if not skew:
        return rows
    weights = [skew.get(r["category"], 1.0) for r in rows]
    return random.Random(f"{seed}:curriculum").choices(rows, weights=weights, k=len(rows))


def sft_dataset(rows: list[dict]):
    """A conversational prompt/completion dataset with one image per row."""
    from datasets import Dataset

    from pipeline.images import decode_rgb

    return Dataset.from_dict({
        "prompt": [user_message(r["question"], r["answer_type"], r["options"]) for r in rows],
        "completion": [[{"role": "assistant", "content": [{"type": "text", "text": r["answer"]}]}] for r in rows],
        "images": [[decode_rgb(r["image"])] for r in rows],
    })


def run_sft(model, processor, rows: list[dict], *, steps: int, batch_size: int, lr: float, seed: int) -> dict:
    from trl import SFTConfig, SFTTrainer

    if steps == 0:
        return {"steps": 0, "train_loss": float("nan")}
    with tempfile.TemporaryDirectory(prefix="dpe-sft-") as tmp:
        args = SFTConfig(
            max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr, lr_scheduler_type="cosine",
            warmup_steps=max(1, steps // 20), weight_decay=0.0, logging_steps=max(1, steps // 10), max_length=None,
            **common_args(seed, tmp),
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=sft_dataset(rows), processing_class=processor)
        result = trainer.train()
    return {"steps": steps, "train_loss": float(result.training_loss)}
