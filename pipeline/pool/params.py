"""The pool's params sections (stages ingest, embed; generate reads search.nprobes): sources, the lake, the
embedding and the vector search."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline.config.sections import Section, StageParams

# The zero-shot image-type tags of the embedded world's pool; a user's pool names its own types.
DEFAULT_TYPE_PROMPTS = {
    "shapes": "an image of geometric shapes", "objects": "an image of coloured dots",
    "bar_chart": "an image of a bar chart", "line_chart": "an image of a line chart",
    "document": "an image of a text document", "table": "an image of a table of numbers",
}


class SourceConfig(Section):
    """One pool source. A bare string in ``pool.sources`` is shorthand for ``{uri: <string>}``."""

    uri: str = Field(min_length=1, description="local path or fsspec URL (s3://, gs://, memory://, ...)")
    kind: Literal["auto", "folder", "parquet", "arrow", "lance"] = "auto"
    glob: str | None = Field(None, description="folder only: pattern below the folder, e.g. '**/*.jpg'")
    image_column: str = "image"  # table sources: a column of encoded image bytes ...
    path_column: str = "path"    # ... or of file paths (relative ones resolve against the table's folder)
    uri_column: str = "uri"      # optional: where each row came from (default: <source>#<row>)

    @field_validator("glob")
    @classmethod
    def _glob_stays_inside(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.replace("\\", "/").split("/")):
            raise ValueError(f"glob {value!r} reaches outside the folder; give a pattern below it, e.g. '**/*.jpg'")
        return value


class PoolConfig(Section):
    """Where the unlabeled image pool comes from and where the lake lives."""

    sources: list[SourceConfig] = Field(default_factory=lambda: [SourceConfig(uri="data/world/pool.parquet")],
                                        min_length=1)
    lake: str = "data/lake"
    max_pixels: int = Field(16_000_000, ge=1, description="larger images are quarantined (decompression bombs)")
    max_bytes: int = Field(50_000_000, ge=1, description="larger files are quarantined before they are decoded")
    max_side: int = Field(2048, ge=16, description="longer sides are downscaled to this when ingesting")
    batch_size: int = Field(4096, ge=1, description="rows per Lance commit")
    engine: Literal["local", "ray"] = "local"  # ray: ingest and embed in Ray Data workers (extra [ray])

    @field_validator("sources", mode="before")
    @classmethod
    def _bare_uris(cls, value):
        if isinstance(value, list):
            return [{"uri": v} if isinstance(v, str) else v for v in value]
        return value


class EmbedConfig(Section):
    batch_size: int = Field(128, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the CPU/GPU has native bf16
    workers: int = Field(2, ge=1, description="decode/preprocess threads beside the model")
    type_prompts: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TYPE_PROMPTS), min_length=1,
                                         description="image type -> CLIP text prompt for zero-shot type tags")


class SearchConfig(Section):
    """The retriever's vector search: exact below ``index_threshold`` rows, IVF_FLAT at or above it."""

    index_threshold: int = Field(100_000, ge=1)
    partitions: int = Field(0, ge=0, description="IVF partitions; 0 = about sqrt(rows)")
    nprobes: int = Field(24, ge=1, description="partitions searched per query (recall vs latency)")


class IngestParams(StageParams):
    pool: PoolConfig = PoolConfig()


class EmbedParams(StageParams):
    pool: PoolConfig = PoolConfig()  # its engine; its sources rebuild a lake a fresh clone lacks
    embed: EmbedConfig = EmbedConfig()
    search: SearchConfig = SearchConfig()
