"""The embedded world's params section (stage: world)."""

from __future__ import annotations

from pydantic import Field

from pipeline.config.sections import Section, Seeded


class WorldConfig(Section):
    """The embedded synthetic world: how many images of each kind it renders."""

    image_size: int = Field(112, ge=28, le=1024, multiple_of=28)
    pool_size: int = Field(3000, ge=10, le=10_000_000)
    probe_per_cell: int = Field(192, ge=1)
    eval_per_cell: int = Field(96, ge=1)
    dev_per_cell: int = Field(400, ge=1, description=(
        "held-out dev items per cell: r0's world checks (pipeline/bootstrap/checks.py) judge every cell on all of them"))
    sft_size: int = Field(12000, ge=10)
    clip_size: int = Field(3000, ge=10)


class TestSetConfig(Section):
    """The test set (stage: testset): fresh world items that no stage and no choice reads, for the claims."""

    seed: int = Field(7919, description="the test set's own draw; no other set of the world uses it")
    per_cell: int = Field(400, ge=1, description="items per (category, image type) cell")


class WorldParams(Seeded):
    world: WorldConfig = WorldConfig()


class TestsetParams(Seeded):
    world: WorldConfig = WorldConfig()
    testset: TestSetConfig = TestSetConfig()
