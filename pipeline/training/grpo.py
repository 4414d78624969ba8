"""GRPO on the round's training set with trl's GRPOTrainer (used as is, never forked).

Prompts go through the processor's own chat template; rewards are ``pipeline.training.rewards`` weighted
0.9 accuracy + 0.1 format as in the reference. With ``train.lora`` the trainer fits a PEFT LoRA adapter on
top of the round's starting model (``pipeline/training/adapters.py`` saves it); otherwise every weight
trains. Trainer checkpoints go to the round's state folder every ``train.save_steps``, so a killed run
resumes from the last one (``pipeline/models/resume.py``). An empty training set is not an error: the
checkpoint is carried over unchanged and the metrics say so.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from pipeline.answers.prompts import user_message
from pipeline.models.trainer_args import common_args, step_callbacks
from pipeline.storage.images import decode_rgb
from pipeline.training.params import TrainConfig
from pipeline.training.rewards import accuracy_reward, format_reward

log = logging.getLogger(__name__)

# Module names of the vision towers of the families trl's GRPOTrainer supports (Qwen2/2.5/3-VL: visual;
# LLaVA, Gemma 3: vision_tower; Idefics3/SmolVLM: vision_model).
VISION_MODULES = ("visual", "vision_tower", "vision_model")


def grpo_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [user_message(r["question"], r["answer_type"], r["options"]) for r in rows],
        "images": [[decode_rgb(r["image"])] for r in rows],
        "answer": [r["answer"] for r in rows],
        "answer_type": [r["answer_type"] for r in rows],
        "options": [r["options"] for r in rows],
    })


def is_vision(name: str) -> bool:
    return any(part in VISION_MODULES for part in name.split("."))


def freeze_vision_tower(model) -> int:
    """Stop gradients into the vision tower (and its merger); returns how many parameters were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if is_vision(name):
            param.requires_grad_(False)
            frozen += param.numel()
    log.info("froze %d vision parameters", frozen)
    return frozen


def planned_steps(n_rows: int, cfg: TrainConfig) -> int:
    """Optimiser steps for ``epochs`` passes over the rows, capped by ``max_steps``."""
    return min(cfg.max_steps, max(1, math.ceil(n_rows * cfg.epochs / cfg.prompts_per_step)))


def lora_config(cfg: TrainConfig):
    """trl's ``peft_config`` for ``train.lora`` (None: full fine-tuning). A frozen vision tower gets no adapter."""
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    exclude = rf".*\b({'|'.join(VISION_MODULES)})\b.*" if cfg.freeze_vision else None
    return LoraConfig(r=cfg.lora.rank, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, exclude_modules=exclude, bias="none")


def grpo_args(cfg: TrainConfig, steps: int, seed: int, max_new_tokens: int, state_dir: str):
    from trl import GRPOConfig

    args = common_args(seed, state_dir)
    if cfg.save_steps:
        args.update(save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=1)
    if cfg.vllm != "off":
        args.update(use_vllm=True, vllm_mode=cfg.vllm, vllm_gpu_memory_utilization=cfg.vllm_gpu_memory)
        if cfg.vllm_server:
            args.update(vllm_server_base_url=cfg.vllm_server)
    return GRPOConfig(
        max_steps=steps, learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.scheduler,
        warmup_steps=round(cfg.warmup_ratio * steps),
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations // cfg.processes,
        num_generations=cfg.num_generations, max_completion_length=max_new_tokens, temperature=cfg.temperature,
        beta=cfg.beta, reward_weights=[cfg.accuracy_weight, cfg.format_weight],
        logging_steps=max(1, steps // 10), **args,
    )


def grpo_trainer(model, processor, rows: list[dict], cfg: TrainConfig, seed: int, max_new_tokens: int,
                 state_dir: str, reference: str | None = None):
    """trl's GRPOTrainer for the round, set up but not run (the benchmark times its parts). ``reference``: a
    round folder whose weights replace the KL reference trl builds from the starting model (``train.reference:
    base``)."""
    from trl import GRPOTrainer

    steps = planned_steps(len(rows), cfg)
    if cfg.freeze_vision:
        freeze_vision_tower(model)
    trainer = GRPOTrainer(model=model, reward_funcs=[accuracy_reward, format_reward],
                          args=grpo_args(cfg, steps, seed, max_new_tokens, state_dir),
                          train_dataset=grpo_dataset(rows), processing_class=processor, peft_config=lora_config(cfg),
                          callbacks=step_callbacks())
    if reference and trainer.ref_model is not None:
        set_reference(trainer, reference)
    return trainer


def set_reference(trainer, folder: str) -> None:
    """Load a round's weights into the KL reference trl built from the starting model (full fine-tuning; under
    LoRA trl's reference is the starting model with the adapter off, and params refuse reference: base)."""
    from pipeline.models.checkpoint import load

    weights, _ = load(folder, "auto", device=None)
    trainer.ref_model.load_state_dict(weights.state_dict())  # copies into the reference's own dtype and device
    log.info("KL reference: %s", folder)


def run_grpo(model, processor, rows: list[dict], cfg: TrainConfig, seed: int, state_dir: str | Path,
             max_new_tokens: int = 8, resume_from: str | None = None, reference: str | None = None):
    """Train; returns (the trained model, trl's log history, stats). The model is a PeftModel under LoRA."""
    if not rows:
        log.warning("empty training set: checkpoint carried over unchanged")
        return model, [], {"steps": 0, "samples": 0, "skipped": 1}
    trainer = grpo_trainer(model, processor, rows, cfg, seed, max_new_tokens, str(state_dir), reference)
    accel = trainer.accelerator
    log.info("GRPO in %d process(es) (%s), this is process %d", accel.num_processes,
             str(accel.distributed_type).rsplit(".", 1)[-1], accel.process_index)
    if resume_from:
        log.info("resuming GRPO from %s", resume_from)
    trainer.train(resume_from_checkpoint=resume_from)
    history = [h for h in trainer.state.log_history if "reward" in h]
    first, last = history[:3], history[-3:]
    stats = {
        "steps": trainer.state.max_steps, "samples": len(rows), "skipped": 0,
        "reward.first": _mean(first, "reward"), "reward.last": _mean(last, "reward"),
        "accuracy_reward.last": _mean(last, "rewards/accuracy_reward/mean"),
    }
    return trainer.model, trainer.state.log_history, stats


def _mean(history: list[dict], key: str) -> float:
    return sum(h.get(key, 0.0) for h in history) / max(1, len(history))
