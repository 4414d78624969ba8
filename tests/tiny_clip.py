"""A fixed tiny CLIP for the tests that need a retriever, checked in instead of trained on every test run.

The fixture (tests/fixtures/tiny_clip/) is an open_clip model trained once on the embedded world's captions,
stored compactly: every tensor in float16, and of the text tower's 49,408-row token table only the rows of
the tokens the world's captions and type prompts use (the others were never trained and are zero here).
``materialise`` writes it back as a stock open_clip folder in milliseconds. Rebuild it (after changing the
world's captions or the CLIP architecture) with ``HF_HUB_OFFLINE=1 python -m tests.tiny_clip``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_clip"
TOKENS = "text.token_rows"
TABLE = "token_embedding.weight"


def materialise(out: Path) -> Path:
    """The fixture as an open_clip folder (``open_clip_config.json`` + ``open_clip_model.safetensors``) at ``out``."""
    import torch
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE / "open_clip_config.json", out / "open_clip_config.json")
    compact = load_file(str(FIXTURE / "weights.safetensors"))
    rows = compact.pop(TOKENS).long()
    vocab = json.loads((FIXTURE / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]["vocab_size"]
    table = torch.zeros(vocab, compact[TABLE].shape[1])
    table[rows] = compact.pop(TABLE).float()
    state = {k: v.float() for k, v in compact.items()} | {TABLE: table}
    save_file(state, str(out / "open_clip_model.safetensors"))
    return out


def build(out: Path = FIXTURE, seed: int = 0) -> dict:
    """Train the tiny CLIP on a world's captions and store it compactly in ``out``."""
    import tempfile

    import open_clip
    import pyarrow.parquet as pq
    import torch
    from safetensors.torch import load_file, save_file

    from pipeline.models import clip
    from pipeline.models.params import ClipConfig
    from pipeline.pool.params import DEFAULT_TYPE_PROMPTS
    from pipeline.world.params import WorldConfig
    from pipeline.world.world import WorldFiles, build_world

    with tempfile.TemporaryDirectory() as tmp:
        files = WorldFiles.under(Path(tmp) / "world")
        build_world(WorldConfig(pool_size=10, probe_per_cell=1, eval_per_cell=1, dev_per_cell=1, sft_size=10,
                                clip_size=700), seed, files)
        corpus = pq.read_table(files.clip).to_pydict()
        trained = Path(tmp) / "clip"
        stats = clip.train_clip(corpus["image"], corpus["caption"],
                                ClipConfig(embed_dim=32, width=64, layers=1, steps=120, batch_size=32, lr=2e-3),
                                seed=seed, out=trained)
        tokenizer = open_clip.get_tokenizer(f"local-dir:{trained.resolve()}")
        used = torch.unique(tokenizer(corpus["caption"] + list(DEFAULT_TYPE_PROMPTS.values())))
        state = load_file(str(trained / "open_clip_model.safetensors"))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(trained / "open_clip_config.json", out / "open_clip_config.json")
    compact = {k: v.half().contiguous() for k, v in state.items() if k != TABLE}
    compact[TABLE] = state[TABLE][used].half().contiguous()
    compact[TOKENS] = used.int()
    save_file(compact, str(out / "weights.safetensors"))
    return stats | {"tokens": int(used.numel()), "bytes": (out / "weights.safetensors").stat().st_size}


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO)
    logging.getLogger("tests.tiny_clip").info("built %s: %s", FIXTURE, build())
