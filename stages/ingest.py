"""DVC stage `ingest`: add the pool sources' images to the lake's pool table; pin the version."""

from pipeline.ingest import ingest
from pipeline.runtime import start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--manifest", {"required": True}), ("--metrics", {"required": True})))
    manifest, counts = ingest(params.pool.sources, params.pool.lake, params.pool.max_pixels)
    manifest.write(args.manifest)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
