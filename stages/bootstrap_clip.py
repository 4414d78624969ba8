"""DVC stage `bootstrap_clip`: the pool's CLIP. With ``clip.model: embedded`` the tiny open_clip model trained on
world captions; otherwise a pin to the user's open_clip model. Either is carded with its retrieval quality."""

from pipeline.bootstrap.clip import bootstrap_clip, pin_user_clip
from pipeline.config import EMBEDDED
from pipeline.runtime import start
from pipeline.schemas import CAPTIONS, WORLD_ITEMS, read_table


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--heldout", "--out"))
    heldout = read_table(args.heldout, WORLD_ITEMS).to_pylist()
    if params.clip.model != EMBEDDED:
        pin_user_clip(params.clip.model, params.clip.pretrained, heldout, params.embed.type_prompts, args.out)
        return
    bootstrap_clip(read_table(args.corpus, CAPTIONS).to_pydict(), heldout, params.bootstrap.clip,
                   params.embed.type_prompts, params.seed, args.out)


if __name__ == "__main__":
    main()
