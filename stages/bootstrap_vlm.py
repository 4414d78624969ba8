"""DVC stage `bootstrap_vlm`: the tiny Qwen2.5-VL of round r0, warmed up, topped up and profiled."""

from pipeline.bootstrap.vlm import bootstrap_vlm
from pipeline.runtime import start
from pipeline.schemas import CAPTIONS, WORLD_ITEMS, read_table


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--captions", "--probe", "--dev", "--out"))
    items = lambda path: read_table(path, WORLD_ITEMS).to_pylist()  # noqa: E731
    bootstrap_vlm(items(args.corpus), read_table(args.captions, CAPTIONS).to_pylist(), items(args.dev),
                  items(args.probe), params, args.out)


if __name__ == "__main__":
    main()
