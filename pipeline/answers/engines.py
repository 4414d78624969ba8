"""Answering with the shared prompt template: greedy for diagnosis and evaluation, sampled (k answers per
item) for the difficulty filter; ``greedy_results`` answers and grades in one go.

Diagnose, filter and evaluate answer through one interface, an ``Engine`` opened on a round folder
(``open_engine``, ``answer.engine``): batched transformers ``generate`` by default, vLLM when asked for (or
``auto`` and installed). The bootstrap's embedded model answers through the same transformers code."""

from __future__ import annotations

import json
import logging
from typing import Sequence

import torch
from tqdm import tqdm

from pipeline.answers import results as res
from pipeline.answers.prompts import user_message
from pipeline.run.runtime import reached
from pipeline.storage.images import decode_rgb

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
                           return_tensors="pt", padding=True).to(model.device)
        sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if samples > 1 else dict(
            do_sample=False)
        generated = model.generate(**inputs, max_new_tokens=max_new_tokens, num_return_sequences=samples,
                                   **sampling)
        texts = processor.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        out += [texts[i * samples:(i + 1) * samples] for i in range(len(batch))]
        reached("answer.batch")
    return out


def greedy_results(model, processor, items: Sequence[dict], *, batch_size: int = 32, max_new_tokens: int = 8,
                   seed: int = 0, judge=None, round_name: str = "", desc: str = "greedy"):
    """The items answered greedily and graded: the results table (``pipeline/answers/results.py``), with wrong
    answers attributed by ``judge`` when one is given."""
    return TransformersEngine(model, processor, batch_size).greedy_results(
        items, max_new_tokens=max_new_tokens, seed=seed, judge=judge, round_name=round_name, desc=desc)


class Engine:
    """Answers rows (image, question, answer_type, options) with a round's model; subclasses give ``answer``."""

    def answer(self, rows: Sequence[dict], *, max_new_tokens: int = 8, samples: int = 1, temperature: float = 1.0,
               seed: int = 0, desc: str = "answer") -> list[list[str]]:
        raise NotImplementedError

    def greedy_results(self, items: Sequence[dict], *, max_new_tokens: int = 8, seed: int = 0, judge=None,
                       round_name: str = "", desc: str = "greedy"):
        """The items answered greedily and graded: the results table (``pipeline/answers/results.py``), with wrong
        answers attributed by ``judge`` when one is given."""
        completions = self.answer(items, max_new_tokens=max_new_tokens, seed=seed, desc=desc)
        return res.grade(items, [c[0] for c in completions], judge, round_name)


class TransformersEngine(Engine):
    """Batched ``generate`` on the merged model (CPU or one GPU)."""

    def __init__(self, model, processor, batch_size: int = 32):
        self.model, self.processor, self.batch_size = model, processor, batch_size

    def answer(self, rows, *, max_new_tokens=8, samples=1, temperature=1.0, seed=0, desc="answer"):
        return answer(self.model, self.processor, rows, batch_size=self.batch_size, max_new_tokens=max_new_tokens,
                      samples=samples, temperature=temperature, seed=seed, desc=desc)


class VLLMEngine(Engine):
    """vLLM's offline ``LLM`` on the round's weights: a stacked LoRA adapter is served as a LoRA request on its
    full base, a merge chain is merged into a temporary folder first. Needs ``pip install vllm`` and a GPU;
    not exercised by the CPU tests."""


    def __init__(self, folder: str, dtype: str = "auto", batch_size: int = 32):
        import tempfile

        from vllm import LLM
        from vllm.lora.request import LoRARequest

        from pipeline.models import checkpoint

        resolved = checkpoint.chain(folder)
        source, self.lora = resolved.source, None
        if len(resolved.adapters) == 1 and checkpoint.is_stack(resolved.adapters[0]):
            adapter = str(resolved.adapters[0])
            rank = json.loads((resolved.adapters[0] / checkpoint.ADAPTER_CONFIG).read_text())["r"]
            self.lora = LoRARequest("round", 1, adapter)
            extra = dict(enable_lora=True, max_lora_rank=rank)
        elif resolved.adapters:
            self._merged = tempfile.TemporaryDirectory(prefix="dpe-vllm-")
            model, processor = checkpoint.load(folder, dtype)
            model.save_pretrained(self._merged.name)
            processor.save_pretrained(self._merged.name)
            source, extra = self._merged.name, {}
        else:
            extra = {}
        self.processor = checkpoint.load_processor(folder)
        self.llm = LLM(model=source, revision=resolved.revision, dtype=dtype, max_num_seqs=batch_size,
                       limit_mm_per_prompt={"image": 1}, **extra)

    def answer(self, rows, *, max_new_tokens=8, samples=1, temperature=1.0, seed=0, desc="answer"):
        from vllm import SamplingParams

        prompts = [{"prompt": self.processor.apply_chat_template(
                        user_message(r["question"], r["answer_type"], r["options"]), add_generation_prompt=True,
                        tokenize=False),
                    "multi_modal_data": {"image": decode_rgb(r["image"])}} for r in rows]
        sampling = SamplingParams(n=samples, temperature=temperature if samples > 1 else 0.0,
                                  max_tokens=max_new_tokens, seed=seed)
        outputs = self.llm.generate(prompts, sampling, lora_request=self.lora)
        return [[o.text for o in out.outputs] for out in outputs]


def vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def open_engine(folder: str, cfg, dtype: str = "auto", batch_size: int | None = None) -> Engine:
    """The ``answer.engine`` on a round folder (``batch_size`` overrides ``answer.batch_size``)."""
    batch_size = batch_size or cfg.batch_size
    if cfg.engine == "vllm" or (cfg.engine == "auto" and vllm_installed()):
        return VLLMEngine(folder, dtype, batch_size)
    from pipeline.models.checkpoint import load

    return TransformersEngine(*load(folder, dtype), batch_size=batch_size)
