"""DVC stage `embed`: CLIP vectors and zero-shot image-type tags for the pinned pool; index; pin the version."""

from pipeline import lake
from pipeline.embed import embed_pool
from pipeline.runtime import start, write_metrics
from pipeline.world.captions import TYPE_PHRASES, type_prompt


def main(argv=None):
    args, params = start(__doc__, argv, (("--pool", {"required": True}), ("--clip", {"required": True}),
                                         ("--manifest", {"required": True}), ("--metrics", {"required": True})))
    if params.pool.engine == "ray":
        from pipeline.scale import ray_embed as embed_with
    else:
        embed_with = embed_pool
    prompts = {name: type_prompt(name) for name in TYPE_PHRASES}
    manifest, counts = embed_with(lake.Manifest.read(args.pool), args.clip, prompts, params.embed, params.search)
    manifest.write(args.manifest)
    write_metrics(args.metrics, counts)


if __name__ == "__main__":
    main()
