"""DVC stage `bootstrap_vlm`: round r0's model. With ``model.base: embedded`` the tiny Qwen2.5-VL, warmed up
(resuming from --state after a kill), topped up and profiled; otherwise a pin to the user's checkpoint
(base.json: path or hub id, revision, config and weight-index hashes), never a copy of its weights."""

from pipeline.bootstrap.vlm import bootstrap_vlm, pin_user_base
from pipeline.config import EMBEDDED
from pipeline.runtime import start
from pipeline.schemas import CAPTIONS, WORLD_ITEMS, read_table


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--captions", "--probe", "--dev", "--out", "--state"))
    if params.model.base != EMBEDDED:
        pin_user_base(params.model, args.out)
        return
    items = lambda path: read_table(path, WORLD_ITEMS).to_pylist()  # noqa: E731
    bootstrap_vlm(items(args.corpus), read_table(args.captions, CAPTIONS).to_pylist(), items(args.dev),
                  items(args.probe), params, args.out, args.state)


if __name__ == "__main__":
    main()
