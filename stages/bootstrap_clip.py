"""DVC stage `bootstrap_clip`: train the tiny open_clip model on world captions; card with retrieval quality."""

import pyarrow.parquet as pq

from pipeline.bootstrap.clip import bootstrap_clip
from pipeline.runtime import start


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--heldout", "--out"))
    bootstrap_clip(pq.read_table(args.corpus).to_pydict(), pq.read_table(args.heldout).to_pylist(),
                   params.bootstrap.clip, params.embed.type_prompts, params.seed, args.out)


if __name__ == "__main__":
    main()
