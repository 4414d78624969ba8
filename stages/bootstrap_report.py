"""DVC stage `bootstrap_report`: the round-r0 metrics contract, merged from both model cards."""

from pipeline.bootstrap.params import ReportParams
from pipeline.bootstrap.report import bootstrap_report
from pipeline.run.runtime import start, write_metrics


def main(argv=None):
    args, _ = start(__doc__, ReportParams, argv, required=("--clip", "--vlm", "--metrics"))
    write_metrics(args.metrics, bootstrap_report(args.clip, args.vlm))


if __name__ == "__main__":
    main()
