"""DVC stage `ingest`: add the pool sources' images to the lake's pool table; pin the version, and list the
rows the sources in params hold (the lake keeps rows of sources dropped since; rounds must not see them)."""

from pipeline.pool.params import IngestParams
from pipeline.run.runtime import start, write_metrics
from pipeline.storage.artifacts import write_json


def main(argv=None):
    args, params = start(__doc__, IngestParams, argv, required=("--manifest", "--metrics"), optional=("--listed",))
    cfg = params.pool
    if cfg.engine == "ray":
        from pipeline.pool.scale import ray_ingest as ingest_with
    else:
        from pipeline.pool.ingest import ingest as ingest_with
    manifest, counts = ingest_with(cfg.sources, cfg.lake, cfg.max_pixels, cfg.max_side, cfg.batch_size,
                                   listed_out=args.listed, max_bytes=cfg.max_bytes)
    write_json(args.manifest, manifest)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
