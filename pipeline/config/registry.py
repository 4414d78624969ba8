"""Registries of what a user picks by name in params: mixture strategies, edit operations, agent
backends, judges.

An entry maps a name to ``"package.module:attribute"`` and is imported only when used, so params are
validated against the names without importing the implementations (a stage's imports, and so its DVC
deps, stay its own), and a registry can name a backend that lives elsewhere (the embedded world's, or
a user's package) without generic code importing it. Agent backends and judges also accept a
``"module:attribute"`` target in params, for one the registry does not list. ``owner`` is the module
that loads from the registry: a stage importing it runs the targets (the DVC deps test reads this).
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator


class Registry:
    def __init__(self, kind: str, owner: str, entries: dict[str, str]):
        self.kind, self.owner = kind, owner
        self.entries = dict(entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def target(self, name: str) -> str:
        if name in self.entries:
            return self.entries[name]
        if ":" in name:
            return name
        raise KeyError(f"unknown {self.kind} {name!r}; use one of {sorted(self.entries)} or 'package.module:name'")

    def load(self, name: str) -> Any:
        """The registered object, imported now; the error names the target when it cannot be."""
        module, _, attribute = self.target(name).partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as err:
            raise ImportError(f"{self.kind} {name!r}: cannot import {module}:{attribute} ({err})") from err


STRATEGIES = Registry("mixture strategy", "pipeline.mixture.mixture", {
    name: f"pipeline.mixture.mixture:{cls}" for name, cls in (
        ("dpe_step", "DPEStep"), ("softmax_error", "SoftmaxError"), ("dro", "DRO"), ("uniform", "Uniform"),
        ("static", "Static"))})
EDITS = Registry("edit operation", "pipeline.generation.edits", {
    name: f"pipeline.generation.edits:{cls}" for name, cls in (
        ("brightness", "Brightness"), ("contrast", "Contrast"), ("blur", "Blur"), ("noise", "Noise"),
        ("pad", "Pad"), ("hflip", "HFlip"), ("vflip", "VFlip"), ("crop", "Crop"), ("zoom", "Zoom"),
        ("rotate", "Rotate"), ("box", "Box"), ("marker", "Marker"), ("text", "Text"), ("paste", "Paste"),
        ("generative", "Generative"))})
BACKENDS = Registry("agent backend", "pipeline.generation.agents", {
    "world": "pipeline.world.agents:WorldBackend",
    "openai": "pipeline.generation.openai_agents:OpenAIBackend",
})
JUDGES = Registry("judge", "pipeline.diagnosis.judges", {
    "world": "pipeline.world.judge:WorldJudge",
    "openai": "pipeline.diagnosis.judges:OpenAIJudge",
})
