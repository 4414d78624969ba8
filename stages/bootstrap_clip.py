"""DVC stage `bootstrap_clip`: the pool's CLIP. With ``clip.model: embedded`` the tiny open_clip model trained on
world captions; otherwise a pin to the user's open_clip model. Either is carded with its retrieval quality."""

import logging
import sys

from pipeline.bootstrap.clip import bootstrap_clip, pin_user_clip
from pipeline.bootstrap.params import ClipParams
from pipeline.models.bases import BaseModelError
from pipeline.models.params import EMBEDDED
from pipeline.run.runtime import start
from pipeline.storage.artifacts import read_table
from pipeline.storage.schemas import CAPTIONS, WORLD_ITEMS


def main(argv=None):
    args, params = start(__doc__, ClipParams, argv, required=("--corpus", "--heldout", "--out"))
    heldout = read_table(args.heldout, WORLD_ITEMS).to_pylist()
    if params.clip.model != EMBEDDED:
        try:  # the checks that need the model itself run here, not in params validation
            pin_user_clip(params.clip.model, params.clip.pretrained, heldout, params.embed.type_prompts, args.out)
        except BaseModelError as err:
            logging.getLogger("pipeline").error("invalid params.yaml: %s", err)
            sys.exit(2)
        return
    bootstrap_clip(read_table(args.corpus, CAPTIONS).to_pydict(), heldout, params.bootstrap.clip,
                   params.embed.type_prompts, params.seed, args.out)


if __name__ == "__main__":
    main()
