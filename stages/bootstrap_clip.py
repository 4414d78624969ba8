"""DVC stage `bootstrap_clip`: train the tiny open_clip model on world captions; card with retrieval quality."""

import time

import pyarrow.parquet as pq

from pipeline.clip_quality import clip_quality
from pipeline.models.card import write_card
from pipeline.models.clip import CLIP_IMAGE_SIZE, caption_mix, train_clip
from pipeline.runtime import start


def main(argv=None):
    args, params = start(__doc__, argv, (("--corpus", {"required": True}), ("--heldout", {"required": True}),
                                         ("--out", {"required": True})))
    cfg = params.bootstrap.clip
    corpus = pq.read_table(args.corpus).to_pydict()
    began = time.perf_counter()
    captions = caption_mix(corpus["caption"], corpus["image_type"], cfg.type_caption_share, params.seed)
    stats = train_clip(corpus["image"], captions, cfg, params.seed, args.out)
    seconds = time.perf_counter() - began
    quality = clip_quality(args.out, pq.read_table(args.heldout).to_pylist())
    write_card(args.out, "Tiny CLIP (embedded default)",
               "An open_clip ViT trained contrastively from scratch on the world's (image, caption) pairs. "
               "Load with `open_clip.create_model_and_transforms('local-dir:<this folder>')`.",
               {"parameters": stats["parameters"], "image size": CLIP_IMAGE_SIZE, "embed dim": cfg.embed_dim,
                "training steps": cfg.steps, "training seconds": round(seconds, 1),
                "final loss": round(stats["final_loss"], 4), "training pairs": len(captions)},
               quality)


if __name__ == "__main__":
    main()
