"""DVC stage `train@round`: GRPO from the previous checkpoint on the round's training set."""

from pipeline import schemas
from pipeline.models.vlm import load
from pipeline.runtime import round_seed, start, write_metrics
from pipeline.training.train import run_grpo


def main(argv=None):
    args, params = start(__doc__, argv, required=("--round", "--trainset", "--model", "--out", "--metrics"))
    rows = schemas.read_table(args.trainset, schemas.TRAINSET).to_pylist()
    model, processor = load(args.model)
    stats = run_grpo(model, processor, rows, params.train, round_seed(params.seed, args.round),
                     max_new_tokens=params.answer.max_new_tokens)
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    write_metrics(args.metrics, stats)


if __name__ == "__main__":
    main()
