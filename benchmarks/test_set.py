"""The workspace's rounds graded on the test set: the claims of the committed run, on items nothing chose on.

Grades every round's model of the workspace (``data/rounds/rN/model``, as ``dvc repro`` left it) on
``data/world/test.parquet`` (the ``testset`` stage's draw) and reports each round's accuracy and its change from
r0, paired over the items (one run: an interval over items, none over seeds). Grades are stored per model (its
md5 in ``dvc.lock``) under the test set's draw and the evaluating code, so a rerun grades only what is new:

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.test_set [--out benchmarks/test_set.json]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import yaml

from benchmarks.continual_gains import bits, set_key

log = logging.getLogger("benchmarks.test_set")


def round_models() -> dict[str, str]:
    """round -> the md5 of its model in dvc.lock (r0: bootstrap_vlm's out)."""
    lock = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    out = {}
    for stage, body in lock.items():
        for o in body.get("outs", []):
            if o["path"].endswith("/model") and o["path"].startswith("data/rounds/"):
                out[o["path"].split("/")[2]] = o["md5"]
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][1:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/test_set.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import numpy as np

    import stages  # noqa: F401  (the pinned CPU floats, as the stages grade)
    from benchmarks.common import pipeline_code
    from benchmarks.stats import seeds_and_items
    from pipeline.config.params import load_params
    from pipeline.diagnosis.evaluate import evaluate
    from pipeline.diagnosis.itemsets import load_items

    params = load_params()
    key = f"{set_key('test')}:{pipeline_code()}"
    path = Path(args.out)
    store = json.loads(path.read_text()) if path.exists() else {}
    grades = store.setdefault(key, {})
    items = sorted(load_items("data/world/test.parquet"), key=lambda it: it["item_id"])
    for name, md5 in round_models().items():
        if md5 not in grades:
            log.info("grading %s on the test set (%d items)", name, len(items))
            table = evaluate(f"data/rounds/{name}/model", items, params.answer, name, params.model.dtype)
            grades[md5] = bits(table["correct"].to_list())
            path.write_text(json.dumps(store, indent=0, sort_keys=True) + "\n")
    cells = [f"{it['category']}/{it['image_type']}" for it in items]
    models = round_models()
    base = np.array([int(c) for c in grades[models["r0"]]], dtype=float)
    print(f"Test set {key.split(':')[0]} ({len(items)} items), code {key.split(':')[-1]}")
    print("| round | accuracy | change from r0 [95% interval over items] |\n|---|---|---|")
    for name, md5 in models.items():
        graded = np.array([int(c) for c in grades[md5]], dtype=float)
        change = seeds_and_items([graded - base], cells)
        low, high = change.bounds()
        print(f"| {name} | {graded.mean():.3f} | {change.mean:+.3f} [{low:+.3f}, {high:+.3f}] |")


if __name__ == "__main__":
    main()
