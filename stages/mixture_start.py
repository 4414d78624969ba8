"""DVC stage `mixture_start`: round r0's empty mixture, so every round has a previous mixture to read
(``dro`` updates the previous round's shares)."""

from pipeline.runtime import start
from pipeline.schemas import Mixture, write_json


def main(argv=None):
    args, _ = start(__doc__, argv, required=("--out",))
    write_json(args.out, Mixture(strategy="none", budget=0, quotas={}, shares={}))


if __name__ == "__main__":
    main()
