"""Embedding throughput: the pipeline's batched, prefetching, bf16 encoder against a naive loop and
against this machine's compute bound, measured side by side in one run.

* naive: decode one image, preprocess it, encode it alone in fp32 (same model, inference mode).
* pipeline: ``pipeline.pool.embed`` as the embed stage runs it: decode + preprocess in worker threads a
  few batches ahead (``prefetch``), batches of ``--batch`` through ``ImageEncoder`` at the precision
  ``auto`` picks (bf16 on a CPU with AVX512-BF16).
* bound: model FLOPs per image (torch's FlopCounterMode) divided into the measured FLOP/s of a large
  matmul at the fastest precision here; the share of it the pipeline reaches is printed.
* agreement: cosine between bf16 and fp32 vectors of the same images.

``--model tiny`` is the project's default CLIP (64 px, 2 layers: so small that decoding the PNG costs
more than encoding it); ``--model vit-b-32`` is open_clip's ViT-B/32 at 224 px (random weights, nothing
downloaded), where compute dominates, as with a real CLIP.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.embed_throughput --model tiny
    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.embed_throughput --model vit-b-32 --images 512
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import tiny_clip, world_pool
from pipeline.models import clip
from pipeline.pool.embed import ImageEncoder, native_bf16, prefetch
from pipeline.storage.images import decode_rgb


def matmul_flops(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    began = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - began)


def model_flops(model, pixels: torch.Tensor) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.encode_image(pixels[:1])
    return float(counter.get_total_flops())


def naive(model, preprocess, images: list[bytes]) -> tuple[float, np.ndarray]:
    began, out = time.perf_counter(), []
    with torch.inference_mode():
        for data in images:
            x = preprocess(decode_rgb(data))[None]
            out.append(model.encode_image(x, normalize=True)[0].numpy())
    return len(images) / (time.perf_counter() - began), np.stack(out)


def pipelined(encoder: ImageEncoder, images: list[bytes], batch: int, workers: int) -> tuple[float, np.ndarray]:
    chunks = (images[s:s + batch] for s in range(0, len(images), batch))
    began, out = time.perf_counter(), []
    for pixels in prefetch(chunks, encoder.pixels, workers):
        out.append(encoder(pixels))
    return len(images) / (time.perf_counter() - began), np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["tiny", "vit-b-32"], default="tiny")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write the numbers here too (benchmarks/perf.py reads them)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        pool = world_pool(Path(tmp) / "world", args.images)
        images = pq.read_table(pool, columns=["image"]).column("image").to_pylist()
        if args.model == "tiny":
            clip_dir = tiny_clip(Path(tmp) / "clip", pool)
            model, preprocess, _ = clip.load(clip_dir)
            fast_model = clip.load(clip_dir)[0]
        else:
            import copy

            import open_clip

            model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
            model.eval()
            fast_model = copy.deepcopy(model)
    dtype = torch.bfloat16 if native_bf16() else torch.float32
    fp32 = ImageEncoder(model, preprocess, torch.float32)
    fast = ImageEncoder(fast_model, preprocess, dtype)  # converts its own copy of the weights
    pipelined(fast, images[:args.batch], args.batch, args.workers)  # warm-up
    naive_ips, naive_vecs = naive(model, preprocess, images)
    fast_ips, fast_vecs = pipelined(fast, images, args.batch, args.workers)
    fp32_ips, _ = pipelined(fp32, images, args.batch, args.workers)
    began = time.perf_counter()
    pixels = [fast.pixels(images[s:s + args.batch]) for s in range(0, len(images), args.batch)]
    decode_ips = len(images) / (time.perf_counter() - began)
    began = time.perf_counter()
    for p in pixels:
        fast(p)
    compute_ips = len(images) / (time.perf_counter() - began)
    flops = model_flops(model, pixels[0])
    peak = {name: matmul_flops(dt) for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    best = max(peak, key=peak.get)
    bound = peak[best] / flops
    cosine = float(np.min(np.sum(fast_vecs * naive_vecs, axis=1)))  # the worst image
    print(f"model {args.model}: {flops / 1e6:.1f} MFLOPs per image; {len(images)} world images "
          f"(112 px PNG), batch {args.batch}, {args.workers} decode threads, encoder in {str(dtype)[6:]}")
    print(f"matmul peak: fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s "
          f"-> compute bound {bound:.0f} images/s ({best})")
    print(f"{'path':<44}{'images/s':>10}")
    for name, ips in (("naive loop (1 image, fp32)", naive_ips), ("pipeline fp32", fp32_ips),
                      (f"pipeline {str(dtype)[6:]}", fast_ips), ("decode + preprocess only (1 thread)", decode_ips),
                      (f"encoder only, {str(dtype)[6:]}, preprocessed batches", compute_ips)):
        print(f"{name:<44}{ips:>10.0f}")
    print(f"pipeline / naive = {fast_ips / naive_ips:.1f}x   pipeline / compute bound = {fast_ips / bound:.0%}   "
          f"encoder-only / bound = {compute_ips / bound:.0%}   "
          f"pipeline / encoder-only = {fast_ips / compute_ips:.0%}   min cosine({str(dtype)[6:]}, fp32) = {cosine:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "mflops_per_image": flops / 1e6, "dtype": str(dtype)[6:], "bound_ips": bound,
            "naive_ips": naive_ips, "pipeline_ips": fast_ips, "fp32_ips": fp32_ips, "decode_ips": decode_ips,
            "encoder_ips": compute_ips, "share_of_bound": fast_ips / bound,
            "encoder_share_of_bound": compute_ips / bound, "share_of_encoder": fast_ips / compute_ips,
            "min_cosine": cosine}, indent=1))


if __name__ == "__main__":
    main()
