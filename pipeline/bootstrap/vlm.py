"""Bootstrap the embedded default's round r0: build the tiny Qwen2.5-VL, warm it up by SFT on a skewed
curriculum, top its weak categories up into the profile, and measure its skill profile on the
probe set for the model card."""

from __future__ import annotations

import logging
import time

from pipeline.answers.prompts import prompt_text
from pipeline.bootstrap.checks import run_checks
from pipeline.bootstrap.sft import run_sft, warmup_corpus
from pipeline.bootstrap.skills import measure
from pipeline.bootstrap.top_up import top_up
from pipeline.models.card import write_card
from pipeline.models.checkpoint import write_base_reference
from pipeline.models.resume import fingerprint
from pipeline.models.vlm import TinyVLMSpec, build_model, build_processor, train_tokenizer
from pipeline.run.deps import code_hash

log = logging.getLogger(__name__)

SUMMARY = (
    "A Qwen2.5-VL-architecture model built from a config with a BPE tokenizer trained on the world's "
    "text, warmed up by SFT (prompt/completion, loss on the answer) on a skewed curriculum of the world's "
    "questions mixed with describe-the-image captions, then its weak categories topped up in short SFT "
    "chunks until they sit inside r0's window on the probe: strong cells answered, weak cells latent blind "
    "spots (perceived, rarely asked). Load with `AutoModelForImageTextToText.from_pretrained(<this folder>)`."
)


def pin_user_base(cfg, out: str) -> None:
    """Round r0 as a pin to ``model.base`` (``pipeline/models/checkpoint.py`` loads and checks it)."""
    ref = write_base_reference(out, cfg.base, cfg.revision)
    write_card(out, f"Round r0: {ref.source}", "The user's base model (model.base), pinned, not copied: every "
               "stage loads it from its source and checks these hashes first.", ref.model_dump(exclude_none=True), {})
    log.info("round r0 is %s (%s), pinned in %s", ref.source, ref.model_type, out)


WARM_UP_ONLY = ("weak", "top_up_steps", "top_up_lr", "top_up_chunks", "save_steps")  # fields the warm-up ignores


def warm_up(rows: list[dict], captions: list[dict], params, state_dir: str | None = None):
    """(model, processor, stats, ids of the SFT rows used): the tiny VLM built and warmed up on the skewed
    curriculum. Its resume fingerprint leaves out the top-up's fields, which do not change the warm-up, and
    holds the hash of the code it runs, which does."""
    cfg = params.bootstrap.vlm
    corpus = warmup_corpus(rows, captions, skew=cfg.skew, examples=cfg.examples, caption_share=cfg.caption_share,
                           seed=params.seed)
    texts = [f"{prompt_text(r['question'], r['answer_type'], r['options'])}\n{r['answer']}" for r in corpus]
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    processor = build_processor(tokenizer, params.world.image_size)
    spec = TinyVLMSpec(image_size=params.world.image_size, vocab_size=len(tokenizer), text_hidden=cfg.text_hidden,
                       text_layers=cfg.text_layers, vision_hidden=cfg.vision_hidden, vision_layers=cfg.vision_layers)
    model = build_model(spec, tokenizer, params.seed)
    stats = run_sft(model, processor, corpus, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                    seed=params.seed, state_dir=state_dir, save_steps=cfg.save_steps,
                    run=fingerprint(corpus=[r.get("item_id", r["answer"]) for r in corpus],
                                    vlm=cfg.model_dump(exclude=set(WARM_UP_ONLY)), seed=params.seed,
                                    image_size=params.world.image_size, code=code_hash(__file__)))
    return model, processor, stats, {r["item_id"] for r in corpus if "item_id" in r}


def finish_base(model, processor, rows: list[dict], used: set[str], dev: list[dict], probe: list[dict], params,
                out: str, stats: dict, seconds: float = 0.0) -> dict:
    """Top the warmed-up model's weak categories up, save and card it in ``out``; returns its skill profile and
    r0's world checks. The top-up keeps a chunk by its profile on the probe; the checks run on the dev set,
    never trained or selected on (``pipeline/bootstrap/checks.py``)."""
    cfg, answering = params.bootstrap.vlm, params.answer
    weak = sorted(cfg.weak)
    topped = top_up(model, processor, rows, used, probe, dict(cfg.weak), steps=cfg.top_up_steps, lr=cfg.top_up_lr,
                    max_chunks=cfg.top_up_chunks, batch_size=cfg.batch_size, seed=params.seed,
                    max_new_tokens=answering.max_new_tokens)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    skills = measure(model, processor, probe, weak=weak, seed=params.seed, max_new_tokens=answering.max_new_tokens)
    checks = run_checks(model, processor, dev, weak, seed=params.seed, max_new_tokens=answering.max_new_tokens)
    if not checks["checks.met"]:
        log.warning("r0 fails world checks on the dev set: %s (probe accuracy %s); adjust bootstrap.vlm.skew or "
                    "bootstrap.vlm.weak", checks["checks.failed"], skills["probe_accuracy"])
    write_card(out, "Tiny Qwen2.5-VL, round r0 (embedded default)", SUMMARY,
               {"parameters": sum(p.numel() for p in model.parameters()), "image size": params.world.image_size,
                "training steps": cfg.steps, "batch size": cfg.batch_size, "learning rate": cfg.lr,
                "training seconds": round(seconds, 1), "final train loss": round(stats["train_loss"], 4),
                "warm-up resumed from step": stats.get("resumed_from_step", 0),
                "curriculum skew": dict(cfg.skew) or "uniform", "question examples": cfg.examples,
                "caption share": cfg.caption_share,
                "weak targets (chance-normalised probe accuracy)": dict(cfg.weak) or "none",
                "top-up chunks run": topped["chunks"], "top-up chunk kept": topped["chosen"],
                "chance-normalised probe accuracy after top-up": {c: round(a, 3) for c, a in topped["accuracy"].items()},
                "profile margin after top-up": topped["margin"],
                "world checks on the dev set (pipeline/bootstrap/checks.py)": checks["checks.failed"] or "all pass"},
               skills | checks)
    return skills | checks


def bootstrap_vlm(rows: list[dict], captions: list[dict], dev: list[dict], probe: list[dict], params,
                  out: str, state_dir: str | None = None) -> dict:
    """Build, warm up, top up, save and card the r0 model in ``out``; returns its skill profile."""
    began = time.perf_counter()
    model, processor, stats, used = warm_up(rows, captions, params, state_dir)
    return finish_base(model, processor, rows, used, dev, probe, params, out, stats, time.perf_counter() - began)
