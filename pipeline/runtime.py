"""What every stage does at its edges: logging, threads, params, seeds and the metrics file."""

from __future__ import annotations

import argparse
import atexit
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

from pipeline import schemas
from pipeline.config import Params, ParamsError, load_params

log = logging.getLogger("pipeline")


def start(description: str, argv: list[str] | None = None, required: tuple[str, ...] = (),
          optional: tuple[str, ...] = ()) -> tuple[argparse.Namespace, Params]:
    """Parse the stage's path arguments (``required`` and ``optional`` flags, each one value), set up
    logging and threads, validate params.yaml before any work.

    An invalid params file exits with status 2 and a message naming each bad key.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml")
    for flag in required:
        parser.add_argument(flag, required=True)
    for flag in optional:
        parser.add_argument(flag)
    args = parser.parse_args(argv)
    # Libraries (open_clip logs to the root logger) stay at WARNING; the pipeline's own logs at INFO.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(os.environ.get("DPE_LOG_LEVEL", "INFO"))
    began = time.perf_counter()
    atexit.register(lambda: log.info("%s finished in %.1f s", parser.prog, time.perf_counter() - began))
    threads = os.environ.get("DPE_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        params = load_params(args.params)
    except ParamsError as err:
        log.error("%s", err)
        sys.exit(2)
    return args, params


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dict → flat dotted keys (``{"accuracy": {"overall": 1}}`` → ``{"accuracy.overall": 1}``)."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def write_metrics(path: str | Path, metrics: dict) -> None:
    """A DVC metrics file: flat dotted keys, numbers rounded so reruns give identical files."""
    flat = {k: round(v, 6) if isinstance(v, float) else v for k, v in flatten(metrics).items()}
    schemas.write_json(path, flat)
    log.info("metrics %s: %s", path, flat)


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
