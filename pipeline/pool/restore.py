"""A lake the manifests pin but this machine lacks: rebuilt from the pinned sources, checked, then read.

The lake is not a DVC out (it is shared and incremental), so a fresh clone that ran `dvc pull` has every
manifest but, with a local `pool.lake`, no lake. Nothing reads it until a stage that does must rerun; then the
pool is ingested again from `pool.sources` and embedded again by the pinned CLIP, and used only if it holds
exactly the images the round may see (listed.parquet's ids: image ids are hashes of the bytes). The rebuilt
versions get the manifests' tags, which is how readers open a pin (pipeline/storage/lake.py open_pinned). A lake at a
URI every clone reaches (`pool.lake: s3://...`) never needs this.
"""

from __future__ import annotations

import logging

from pipeline.storage import lake, schemas

log = logging.getLogger(__name__)


class LakeMismatch(RuntimeError):
    """The rebuilt lake does not hold what the manifest pins; nothing was read from it."""


def has_pin(manifest: schemas.Manifest) -> bool:
    """Whether the lake holds the manifest's tagged version."""
    try:
        table = lake.connect(manifest.lake).open_table(manifest.table)
        return manifest.tag in table.tags.list()
    except (FileNotFoundError, ValueError, OSError, RuntimeError):
        return False


def _ids(table, where: str | None = None) -> set[str]:
    return set(table.to_lance().to_table(columns=["image_id"], filter=where).column("image_id").to_pylist())


def _tag(table, manifest: schemas.Manifest) -> None:
    table.checkout_latest()
    if manifest.tag not in table.tags.list():
        table.tags.create(manifest.tag, table.version)


def rebuild_pool(params, pinned: schemas.Manifest, listed: set[str]) -> None:
    from pipeline.pool.ingest import ingest

    log.warning("the lake %s lacks the pinned pool (%s, %d rows): the lake is not a DVC out, so a fresh clone has "
                "none. Rebuilding it from pool.sources, then checking it holds the pinned images", pinned.lake,
                pinned.tag, pinned.rows)
    rebuilt, _ = ingest(params.pool.sources, pinned.lake, params.pool.max_pixels, params.pool.max_side,
                        params.pool.batch_size, max_bytes=params.pool.max_bytes)
    table = lake.open_pinned(rebuilt)
    missing = listed - _ids(table)
    if missing:
        raise LakeMismatch(f"the pool rebuilt from pool.sources lacks {len(missing)} of the {len(listed)} images "
                           f"{pinned.tag} pins (the sources changed since they were ingested); nothing was read. "
                           "Restore the sources, point pool.lake at the lake they were ingested into, or run "
                           "`dvc repro -f ingest` to pin what they hold now (the rounds after it rerun)")
    _tag(table, pinned)


def rebuild_vectors(params, pool: schemas.Manifest, vectors: schemas.Manifest, clip_dir: str,
                    listed: set[str]) -> None:
    from pipeline.models import clip
    from pipeline.pool.embed import embed_pool

    log.warning("the lake %s lacks the pinned vectors (%s): embedding the pool again with the pinned CLIP",
                vectors.lake, vectors.tag)
    rebuilt, _ = embed_pool(pool, clip_dir, dict(params.embed.type_prompts), params.embed, params.search)
    table = lake.open_pinned(rebuilt)
    missing = listed - _ids(table, f"model = '{clip.fingerprint(clip_dir)}'")
    if missing:
        raise LakeMismatch(f"the rebuilt vectors lack {len(missing)} pinned images; nothing was read")
    _tag(table, vectors)


def ensure_pinned(params, pool: schemas.Manifest, listed: frozenset[str] | None,
                  vectors: schemas.Manifest | None = None, clip_dir: str | None = None) -> None:
    """Make sure the lake holds the pins a stage is about to read, rebuilding what it lacks (which needs the
    listed ids, to check the rebuild against)."""
    if listed is None:
        return  # nothing to check a rebuild against: a missing pin fails on open (lake.LakeMissing)
    if not has_pin(pool):
        rebuild_pool(params, pool, listed)
    if vectors is not None and not has_pin(vectors):
        rebuild_vectors(params, pool, vectors, clip_dir, listed)
