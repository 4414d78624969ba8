"""DVC stage `embed`: CLIP vectors and zero-shot image-type tags for the pinned pool; index; pin the version."""

from pipeline.pool.ingest import listed_ids
from pipeline.pool.params import EmbedParams
from pipeline.pool.restore import ensure_pinned
from pipeline.run.runtime import start, write_metrics
from pipeline.storage import artifacts


def main(argv=None):
    args, params = start(__doc__, EmbedParams, argv,
                         required=("--pool", "--clip", "--manifest", "--metrics"), optional=("--listed",))
    pool = artifacts.read_manifest(args.pool)
    ensure_pinned(params, pool, listed_ids(args.listed) if args.listed else None)  # a fresh clone lacks the lake
    if params.pool.engine == "ray":
        from pipeline.pool.scale import ray_embed as embed_with
    else:
        from pipeline.pool.embed import embed_pool as embed_with
    manifest, counts = embed_with(pool, args.clip, dict(params.embed.type_prompts), params.embed,
                                  params.search)
    artifacts.write_json(args.manifest, manifest)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
