"""DVC stage `bootstrap_clip`: train the tiny open_clip model on world captions; report retrieval quality."""

import pyarrow.parquet as pq

from pipeline.clip_quality import clip_quality
from pipeline.models.clip import train_clip
from pipeline.runtime import start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--corpus", {"required": True}), ("--heldout", {"required": True}),
                                         ("--out", {"required": True}), ("--metrics", {"required": True})))
    corpus = pq.read_table(args.corpus).to_pydict()
    stats = train_clip(corpus["image"], corpus["caption"], params.bootstrap.clip, params.seed, args.out)
    quality = clip_quality(args.out, pq.read_table(args.heldout).to_pylist())
    write_metrics(args.metrics, {"clip": stats | quality})


if __name__ == "__main__":
    main()
