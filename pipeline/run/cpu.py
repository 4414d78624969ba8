"""One instruction set and one thread count for the pipeline's CPU floats, so a round reproduces on any x86-64.

CPU training gives different floats on different instruction sets (AVX-512 and AMX kernels round and
accumulate differently from AVX2 ones) and on different thread counts (a parallel reduction splits its sum by
thread). Unpinned, a fresh clone's ``make demo`` on another CPU read other metrics than the committed ones.
``pin()`` sets each library's own switch to AVX2, which every x86-64 machine of the last decade has: PyTorch's
kernel dispatch (``ATEN_CPU_CAPABILITY``), oneDNN's (``ONEDNN_MAX_CPU_ISA``), MKL's (``MKL_ENABLE_INSTRUCTIONS``
and its conditional-numerical-reproducibility branch ``MKL_CBWR``), and the thread count of OpenMP and MKL. It
runs before torch is imported (``stages/__init__.py``), for every stage under ``dvc repro``.

``DPE_CPU=native`` trades it for speed on a bigger machine (every core, the widest kernels): the results are
then that machine's own and need not equal the committed metrics. Set per run; the DVC lock does not see it.
"""

from __future__ import annotations

import os

THREADS = 2
PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "AVX2",
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
}
MODE = "DPE_CPU"  # pinned (the default) | native


def pinned() -> bool:
    mode = os.environ.get(MODE, "pinned")
    if mode not in ("pinned", "native"):
        raise SystemExit(f"{MODE}={mode!r}: use pinned (reproducible on any x86-64, the default) or native")
    return mode == "pinned"


def pin() -> None:
    """Set the pinned environment (a no-op under ``DPE_CPU=native``). Must run before torch is imported: the
    libraries read these variables once, when they load."""
    if pinned():
        os.environ.update(PINNED)


def describe() -> str:
    """What the running process computes with, for logs and benchmark records."""
    import torch

    mode = "pinned" if pinned() else "native"
    return f"{mode}: kernels {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads"
