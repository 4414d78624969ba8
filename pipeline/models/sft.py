"""Supervised warm-up of the tiny VLM (round r0) with trl's SFTTrainer.

It uses the prompt/completion format so the loss falls on the answer only: with the plain
``messages`` format the loss covered every token and the tiny model learned nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.prompts import user_message

log = logging.getLogger(__name__)


def sft_dataset(rows: list[dict]):
    """A conversational prompt/completion dataset with one image per row."""
    from datasets import Dataset

    from pipeline.images import decode_rgb

    return Dataset.from_dict({
        "prompt": [user_message(r["question"], r["answer_type"], r["options"]) for r in rows],
        "completion": [[{"role": "assistant", "content": [{"type": "text", "text": r["answer"]}]}] for r in rows],
        "images": [[decode_rgb(r["image"])] for r in rows],
    })


def run_sft(model, processor, rows: list[dict], *, steps: int, batch_size: int, lr: float, seed: int,
            work_dir: str | Path) -> dict:
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(work_dir), max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=max(1, steps // 20), weight_decay=0.0,
        logging_steps=max(1, steps // 10), save_strategy="no", report_to=[], seed=seed, data_seed=seed,
        use_cpu=True, bf16=False, gradient_checkpointing=False, dataloader_num_workers=0,
        max_length=None, disable_tqdm=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=sft_dataset(rows), processing_class=processor)
    result = trainer.train() if steps > 0 else None
    return {"steps": steps, "train_loss": float(result.training_loss) if result else float("nan")}
