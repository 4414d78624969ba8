"""DVC stage `bootstrap_report`: the round-r0 metrics contract, merged from both model cards."""

from pipeline.config.sections import StageParams
from pipeline.models.card import read_card_metrics
from pipeline.run.runtime import start, write_metrics


def main(argv=None):
    args, _ = start(__doc__, StageParams, argv, required=("--clip", "--vlm", "--metrics"))
    write_metrics(args.metrics, {"clip": read_card_metrics(args.clip), "vlm": read_card_metrics(args.vlm)})


if __name__ == "__main__":
    main()
