"""DVC stage `bootstrap_vlm`: round r0's model. With ``model.base: embedded`` the tiny Qwen2.5-VL, warmed up
(resuming from --state after a kill), topped up and profiled; otherwise a pin to the user's checkpoint
(base.json: path or hub id, revision, config and weight-index hashes), never a copy of its weights."""

import logging
import sys

from pipeline.bootstrap.params import VlmParams
from pipeline.bootstrap.vlm import bootstrap_vlm, pin_user_base
from pipeline.models.bases import BaseModelError
from pipeline.models.params import EMBEDDED
from pipeline.run.runtime import start
from pipeline.storage.artifacts import read_table
from pipeline.storage.schemas import CAPTIONS, WORLD_ITEMS


def main(argv=None):
    args, params = start(__doc__, VlmParams, argv,
                         required=("--corpus", "--captions", "--probe", "--dev", "--out", "--state"))
    if params.model.base != EMBEDDED:
        try:  # the checks that need the model itself run here, not in params validation
            pin_user_base(params.model, args.out)
        except BaseModelError as err:
            logging.getLogger("pipeline").error("invalid params.yaml: %s", err)
            sys.exit(2)
        return
    items = lambda path: read_table(path, WORLD_ITEMS).to_pylist()  # noqa: E731
    bootstrap_vlm(items(args.corpus), read_table(args.captions, CAPTIONS).to_pylist(), items(args.dev),
                  items(args.probe), params, args.out, args.state)


if __name__ == "__main__":
    main()
