"""One round's training, end to end: load the previous round's model, resume or start GRPO, save the result
(full weights, or the LoRA adapter) with the processor, and report the curves.

With ``train.processes`` > 1 the stage reruns itself under ``accelerate launch`` (gloo on CPUs, NCCL on
GPUs, DeepSpeed or FSDP through ``train.accelerate_config``); every process runs this module and only the
main one writes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from pipeline.models import resume
from pipeline.models.bases import weight_index_hash
from pipeline.models.checkpoint import load
from pipeline.run.deps import code_hash
from pipeline.training import gate
from pipeline.training.adapters import save_adapter
from pipeline.training.curves import summary
from pipeline.training.grpo import lora_config, run_grpo
from pipeline.training.params import left_out

log = logging.getLogger(__name__)

SMALL_FILE = 100 * 1024 * 1024  # model files above this are fingerprinted by name, size and tensor index


def model_fingerprint(folder: Path) -> str:
    """Cheap for a 15 GB checkpoint: small files by content, large weight files by their tensor index."""
    parts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        big = path.stat().st_size > SMALL_FILE
        parts[rel] = f"{path.stat().st_size}:{weight_index_hash(path.parent)}" if big else resume.tree_hash(path)
    return resume.fingerprint(**parts)


def run_id(trainset: str, model_dir: str, params, round_seed: int) -> str:
    """What a trainer checkpoint belongs to: the inputs, the params, the seed and the training code (changed code
    starts afresh instead of resuming what older code trained)."""
    return resume.fingerprint(trainset=Path(trainset), model=model_fingerprint(Path(model_dir)),
                              train=params.train.model_dump(), seed=round_seed,
                              max_new_tokens=params.answer.max_new_tokens, dtype=params.model.dtype,
                              code=code_hash(__file__))


def leave_out(rows: list[dict], cells: list[str]) -> list[dict]:
    """The training rows without those of ``cells`` (a cell, category/image_type, or a whole category): an
    ablation trains the round as it was, minus one cell's data.

    >>> [r["cell"] for r in leave_out([{"cell": "text/document"}, {"cell": "size/shapes"}], ["text"])]
    ['size/shapes']
    """
    return [r for r in rows if not left_out(cells, r["cell"])]


def blind(rows: list[dict]) -> list[dict]:
    """The training rows with every image replaced by one constant grey image, the size of the first: the
    blind control (``train.blind``), which learns only what the questions and labels teach.

    >>> from pipeline.storage.images import encode_png
    >>> from PIL import Image
    >>> rows = blind([{"image": encode_png(Image.new("RGB", (4, 4), (9, 9, 9)))}, {"image": b"other"}])
    >>> rows[0]["image"] == rows[1]["image"] != b"other"
    True
    """
    if not rows:
        return rows
    from PIL import Image

    from pipeline.storage.images import decode_rgb, encode_png

    grey = encode_png(Image.new("RGB", decode_rgb(rows[0]["image"]).size, (128, 128, 128)))
    return [r | {"image": grey} for r in rows]


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


LAUNCHED = "DPE_LAUNCHED"  # set for the launcher's workers: they train, they never launch again


def launched() -> bool:
    """True inside a worker of ``launch`` (or any accelerate launch / torchrun worker)."""
    return LAUNCHED in os.environ or "LOCAL_RANK" in os.environ


def launch(argv: list[str], args, params, seed: int) -> int:
    """Rerun the train stage in ``train.processes`` processes; returns the launcher's exit status."""
    import torch

    resume.last_checkpoint(args.state, run_id(args.trainset, args.model, params, seed))
    cfg = params.train
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(cfg.processes),
           "--num_machines", "1", "--main_process_port", str(_free_port())]
    if cfg.accelerate_config:
        cmd += ["--config_file", cfg.accelerate_config]
    else:  # torchrun-style workers; without a GPU the trainer (use_cpu) joins them over gloo
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if not torch.cuda.is_available():
        cmd += ["--num_cpu_threads_per_process", str(max(1, (os.cpu_count() or 1) // cfg.processes))]
    cmd += ["--module", "stages.train", *argv]
    log.info("training in %d processes: %s", cfg.processes, " ".join(cmd))
    return subprocess.run(cmd, env=os.environ | {LAUNCHED: "1"}).returncode


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_round(rows: list[dict], trainset: str, model_dir: str, out: str, state_dir: str, params,
                seed: int, reference: str | None = None) -> tuple[dict, list[dict]] | None:
    """Train, gate and save the round; returns (stats, log history) on the main process, None on the others."""
    run = run_id(trainset, model_dir, params, seed)
    # Outside a launch this clears a folder left by another run; inside one the launcher already did
    # (launch), so every process finds the same checkpoint.
    checkpoint = resume.last_checkpoint(state_dir, run) if rows else None
    model, processor = load(model_dir, params.model.dtype, device=None)  # the trainer places it (one per process)
    trained, history, stats = run_grpo(model, processor, rows, params.train, seed, state_dir,
                                       max_new_tokens=params.answer.max_new_tokens, resume_from=checkpoint,
                                       reference=reference)
    if rank() != 0:
        return None
    stats["resumed_from_step"] = resume.step(checkpoint) if checkpoint else 0
    if rows and params.train.gate.enabled:
        stats |= gate.run_gate(trained, processor, model_dir, params)
    save(trained, processor, model_dir, out, params.train, trained_adapter=bool(rows))
    resume.finish(state_dir)
    return stats | {"curves": summary(history)}, history


def save(model, processor, previous: str, out: str, cfg, trained_adapter: bool) -> None:
    """The round's out: the adapter under LoRA (an untrained one, a zero update, when nothing trained), the
    full weights otherwise; the processor always (small, and every folder then loads on its own)."""
    out_path = Path(out)
    if cfg.lora is not None:
        if not trained_adapter:
            from peft import get_peft_model

            model = get_peft_model(model, lora_config(cfg))
        save_adapter(model, previous, out_path, cfg.lora.chain)
    else:
        model.save_pretrained(out_path)
    processor.save_pretrained(out_path)
