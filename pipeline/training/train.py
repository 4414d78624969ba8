"""GRPO on the round's training set with trl's GRPOTrainer (used as is, never forked).

Prompts use the shared template; rewards are ``pipeline.training.rewards`` weighted 0.9 accuracy + 0.1 format
as in the reference. An empty training set is not an error: the checkpoint is carried over unchanged
and the metrics say so, so a round with nothing in band is visible rather than silently padded.
"""

from __future__ import annotations

import logging
import math
import tempfile

from pipeline.config import TrainConfig
from pipeline.images import decode_rgb
from pipeline.models.trainer_args import common_args
from pipeline.prompts import user_message
from pipeline.training.rewards import accuracy_reward, format_reward

log = logging.getLogger(__name__)


def grpo_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [user_message(r["question"], r["answer_type"], r["options"]) for r in rows],
        "images": [[decode_rgb(r["image"])] for r in rows],
        "answer": [r["answer"] for r in rows],
        "answer_type": [r["answer_type"] for r in rows],
        "options": [r["options"] for r in rows],
    })


def freeze_vision_tower(model) -> int:
    """Stop gradients into the vision tower (and its merger); returns how many parameters were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if "visual" in name.split("."):
            param.requires_grad_(False)
            frozen += param.numel()
    log.info("froze %d vision parameters", frozen)
    return frozen


def planned_steps(n_rows: int, cfg: TrainConfig) -> int:
    """Optimiser steps for ``epochs`` passes over the rows, capped by ``max_steps``."""
    return min(cfg.max_steps, max(1, math.ceil(n_rows * cfg.epochs / cfg.prompts_per_step)))


def run_grpo(model, processor, rows: list[dict], cfg: TrainConfig, seed: int, max_new_tokens: int = 8) -> dict:
    from trl import GRPOConfig, GRPOTrainer

    if not rows:
        log.warning("empty training set: checkpoint carried over unchanged")
        return {"steps": 0, "samples": 0, "skipped": 1}
    steps = planned_steps(len(rows), cfg)
    if cfg.freeze_vision:
        freeze_vision_tower(model)
    with tempfile.TemporaryDirectory(prefix="dpe-grpo-") as tmp:
        args = GRPOConfig(
            max_steps=steps, learning_rate=cfg.learning_rate, lr_scheduler_type="constant",
            per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
            num_generations=cfg.num_generations, max_completion_length=max_new_tokens, temperature=cfg.temperature,
            beta=cfg.beta, reward_weights=[cfg.accuracy_weight, cfg.format_weight],
            logging_steps=max(1, steps // 10),
            **common_args(seed, tmp),
        )
        trainer = GRPOTrainer(model=model, reward_funcs=[accuracy_reward, format_reward], args=args,
                              train_dataset=grpo_dataset(rows), processing_class=processor)
        trainer.train()
    history = [h for h in trainer.state.log_history if "reward" in h]
    first, last = history[:3], history[-3:]
    return {
        "steps": steps, "samples": len(rows), "skipped": 0,
        "reward.first": _mean(first, "reward"), "reward.last": _mean(last, "reward"),
        "accuracy_reward.last": _mean(last, "rewards/accuracy_reward/mean"),
    }


def _mean(history: list[dict], key: str) -> float:
    return sum(h.get(key, 0.0) for h in history) / max(1, len(history))
