"""What every stage does at its edges: logging, threads, its params sections and the metrics file."""

from __future__ import annotations

import argparse
import atexit
import errno
import hashlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TypeVar

from pipeline.config import sections as params_file
from pipeline.storage import artifacts

log = logging.getLogger("pipeline")
Schema = TypeVar("Schema", bound=params_file.StageParams)


def start(description: str, schema: type[Schema], argv: list[str] | None = None, required: tuple[str, ...] = (),
          optional: tuple[str, ...] = (), switches: tuple[str, ...] = ()) -> tuple[argparse.Namespace, Schema]:
    """Parse the stage's path arguments (``required`` and ``optional`` flags, each one value, and on/off
    ``switches``), set up logging and threads, validate the params sections ``schema`` names before any work.

    An invalid section exits with status 2 and a message naming each bad key.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml")
    for flag in required:
        parser.add_argument(flag, required=True)
    for flag in optional:
        parser.add_argument(flag)
    for flag in switches:
        parser.add_argument(flag, action="store_true")
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
        params = params_file.read(args.params, schema)
    except params_file.ParamsError as err:
        log.error("%s", err)
        sys.exit(2)
    places = [v for v in vars(args).values() if isinstance(v, str)]
    pool = getattr(params, "pool", None)
    places += [pool.lake] if pool is not None else []
    sys.excepthook = partial(_uncaught, places=places)
    return args, params


KILL_AT = "DPE_KILL_AT"  # "<point>:<n>[,...]": reached() SIGKILLs this process the n-th time it passes <point>
_passes: Counter = Counter()
_passes_lock = threading.Lock()


def reached(point: str) -> None:
    """A named point in a stage's work (``lake.merge``, ``lake.pin``, ``answer.batch``, ``journal.flush``,
    ``train.step``). The crash tests set DPE_KILL_AT so that the n-th pass kills the process there: a kill at a
    known point in the work, the same on every machine, instead of a timer racing a loaded CPU. Unset, it does
    nothing."""
    spec = os.environ.get(KILL_AT)
    if not spec:
        return
    with _passes_lock:
        _passes[point] += 1
        count = _passes[point]
    for item in spec.split(","):
        name, _, n = item.partition(":")
        if name == point and count == int(n or 1):
            log.warning("%s=%s: killing this process at %s, pass %d", KILL_AT, spec, point, count)
            os.kill(os.getpid(), signal.SIGKILL)


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object store (s3://, gs://, ...) rather than a local path or file:// URI."""
    return "://" in uri and not uri.startswith("file://")


def disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` (or what caused it) is a full disk: an OSError with ENOSPC, or Lance's and Arrow's
    wrapped versions of one."""
    while err is not None:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(err) or "os error 28" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def free_space(places: list[str]) -> list[tuple[str, int, int]]:
    """(place, free bytes, total bytes) for each device holding one of the local ``places``, least room first.

    Ordered by free bytes, not by the free fraction: a write fails on the device with no room left, and a big
    disk that is 97% used can still hold far more than a small one that is nearly empty (CI's /tmp is such a disk).
    """
    seen, out = set(), []
    for place in places:
        if is_remote(place):
            continue
        path = Path(place.removeprefix("file://")).absolute()
        while not path.exists() and path != path.parent:
            path = path.parent
        device = path.stat().st_dev
        if device not in seen:
            seen.add(device)
            usage = shutil.disk_usage(path)
            out.append((str(path), usage.free, usage.total))
    return sorted(out, key=lambda p: p[1])


def _uncaught(kind, err, tb, places: list[str]) -> None:
    """A full disk ends the stage with what to do instead of a traceback (exit status 1)."""
    if not disk_full(err):
        sys.__excepthook__(kind, err, tb)
        return
    spaces = "; ".join(f"{p}: {free / 2**20:.1f} MiB free of {total / 2**20:.1f} MiB"
                       for p, free, total in free_space(places))
    log.error("disk full (%s). Free space where this stage reads and writes: %s. Nothing this run wrote is "
              "pinned: Lance tables keep their pinned version and DVC records no outs. Make room on the first "
              "device above (the least free space) and rerun (dvc repro): work already finished resumes.", err, spaces)


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
    artifacts.write_json(path, flat)
    log.info("metrics %s: %s", path, flat)


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
