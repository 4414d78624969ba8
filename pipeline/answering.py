"""Batched answering with the shared prompt template: greedy for diagnosis and evaluation, sampled
(k answers per item) for the difficulty filter; ``greedy_results`` answers and grades in one go."""

from __future__ import annotations

import logging
from typing import Sequence

import torch
from tqdm import tqdm

from pipeline import results as res
from pipeline.images import decode_rgb
from pipeline.prompts import user_message

log = logging.getLogger(__name__)


@torch.inference_mode()
def answer(model, processor, rows: Sequence[dict], *, batch_size: int = 32, max_new_tokens: int = 8,
           samples: int = 1, temperature: float = 1.0, seed: int = 0, desc: str = "answer") -> list[list[str]]:
    """``samples`` completions per row (greedy when samples == 1). Rows need image, question,
    answer_type and options."""
    model.eval()
    torch.manual_seed(seed)
    out: list[list[str]] = []
    for start in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch"):
        batch = rows[start:start + batch_size]
        chats = [user_message(r["question"], r["answer_type"], r["options"]) for r in batch]
        text = processor.apply_chat_template(chats, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=text, images=[[decode_rgb(r["image"])] for r in batch],
                           return_tensors="pt", padding=True)
        sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if samples > 1 else dict(
            do_sample=False)
        generated = model.generate(**inputs, max_new_tokens=max_new_tokens, num_return_sequences=samples,
                                   **sampling)
        texts = processor.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        out += [texts[i * samples:(i + 1) * samples] for i in range(len(batch))]
    return out


def greedy_results(model, processor, items: Sequence[dict], *, batch_size: int = 32, max_new_tokens: int = 8,
                   seed: int = 0, judge=None, round_name: str = "", desc: str = "greedy"):
    """The items answered greedily and graded: the results table (``pipeline/results.py``), with wrong
    answers attributed by ``judge`` when one is given."""
    completions = answer(model, processor, items, batch_size=batch_size, max_new_tokens=max_new_tokens, seed=seed,
                         desc=desc)
    return res.grade(items, [c[0] for c in completions], judge, round_name)
