"""Shared fixtures: a tiny world rendered once per session, one torch thread per worker."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


SLOW_TIMEOUT = int(os.environ.get("DPE_SLOW_TIMEOUT", "900"))  # seconds; the rest get pyproject's timeout


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """Tests that train a model, start Ray or run DVC are marked slow and get a longer per-test timeout."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    from pipeline.world.params import WorldConfig
    from pipeline.world.world import WorldFiles, build_world

    out = tmp_path_factory.mktemp("world")
    cfg = WorldConfig(pool_size=140, probe_per_cell=2, eval_per_cell=2, dev_per_cell=2, sft_size=60, clip_size=70)
    counts = build_world(cfg, seed=3, files=WorldFiles.under(out))
    return out, cfg, counts
