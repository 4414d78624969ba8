"""DVC stage `filter@round`: sample answers from the previous checkpoint; keep the pass-rate band."""

from pipeline.answers.engines import open_engine
from pipeline.run.runtime import start, write_metrics
from pipeline.storage import artifacts, schemas
from pipeline.training.filter import filter_samples
from pipeline.training.params import FilterParams


def main(argv=None):
    args, params = start(__doc__, FilterParams, argv,
                         required=("--round", "--samples", "--model", "--rollouts", "--trainset", "--metrics"))
    cfg = params.filter
    samples = artifacts.read_table(args.samples, schemas.SAMPLES).to_pylist()
    engine = open_engine(args.model, params.answer, params.model.dtype, batch_size=cfg.batch_size)
    completions = engine.answer(samples, max_new_tokens=params.answer.max_new_tokens, samples=cfg.n_samples,
                                temperature=cfg.temperature, seed=params.seed_of(args.round), desc="rollouts")
    rollouts, trainset, counts = filter_samples(samples, completions, cfg.band_low, cfg.band_high, cfg.min_keep,
                                                args.model, cfg.label, cfg.max_keep, cfg.rehearsal,
                                                cfg.max_label_share)
    artifacts.write_parquet(args.rollouts, rollouts.to_arrow(), schemas.ROLLOUTS)
    artifacts.write_parquet(args.trainset, trainset, schemas.TRAINSET)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
