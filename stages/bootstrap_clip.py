"""DVC stage `bootstrap_clip`: train the tiny open_clip model on world captions; card with retrieval quality."""

from pipeline.bootstrap.clip import bootstrap_clip
from pipeline.runtime import start
from pipeline.schemas import CAPTIONS, WORLD_ITEMS, read_table


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--heldout", "--out"))
    bootstrap_clip(read_table(args.corpus, CAPTIONS).to_pydict(), read_table(args.heldout, WORLD_ITEMS).to_pylist(),
                   params.bootstrap.clip, params.embed.type_prompts, params.seed, args.out)


if __name__ == "__main__":
    main()
