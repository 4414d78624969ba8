"""DVC stage `bootstrap_vlm`: the tiny Qwen2.5-VL of round r0, warmed up, topped up and profiled."""

import pyarrow.parquet as pq

from pipeline.bootstrap.vlm import bootstrap_vlm
from pipeline.runtime import start


def main(argv=None):
    args, params = start(__doc__, argv, required=("--corpus", "--captions", "--probe", "--dev", "--out"))
    read = lambda path: pq.read_table(path).to_pylist()  # noqa: E731
    bootstrap_vlm(read(args.corpus), read(args.captions), read(args.dev), read(args.probe), params, args.out)


if __name__ == "__main__":
    main()
