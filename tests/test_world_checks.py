"""The world checks benchmark's ceiling: the params it trains with and the verdict its table prints."""

import pytest
import yaml

from benchmarks.world_checks import MAX_FACTOR, ceiling_params, ceiling_table


def test_ceiling_trains_every_category_at_full_share_within_three_times_the_steps():
    raw = yaml.safe_load(open("params.yaml"))
    params = ceiling_params(raw, 3, seed=4)
    vlm = params["bootstrap"]["vlm"]
    assert vlm["skew"] == {} and vlm["weak"] == {} and params["seed"] == 4
    assert vlm["steps"] == 3 * raw["bootstrap"]["vlm"]["steps"] and vlm["examples"] == raw["world"]["sft_size"]
    assert raw["bootstrap"]["vlm"]["skew"]  # the committed params are left as they were
    with pytest.raises(SystemExit, match="at most 3x"):
        ceiling_params(raw, MAX_FACTOR + 1, seed=0)


def test_ceiling_table_names_every_cell_below_the_strong_line():
    unit = {"seed": 0, "isa": "native", "kernels": "AVX512", "steps": 6000,
            "cells": {"text/document": {"n": 400, "accuracy": 0.99, "low": 0.98},
                      "grid/table": {"n": 400, "accuracy": 0.80, "low": 0.77}}}
    text = ceiling_table([unit])
    assert "| grid/table | 0.800 (≥0.770, n=400) |" in text
    assert text.strip().endswith("below 0.85: grid/table s0 native.")
    unit["cells"]["grid/table"]["accuracy"] = 0.9
    assert ceiling_table([unit]).strip().endswith("every cell reaches 0.85.")


def test_profile_report_prints_the_current_key_s_units_and_names_the_missing_ones(tmp_path, monkeypatch, capsys):
    from benchmarks import profile_robustness as pr

    monkeypatch.setattr(pr, "STORE", tmp_path)
    assert pr.unit_path(0, "avx2") != pr.unit_path(1, "avx2") != pr.unit_path(1, "native")
    skills = {"probe_accuracy": {"overall": 0.9, "chart": 1.0, "text": 0.6}, "checks.chart.accuracy": 1.0,
              "checks.text.normalised": 0.36, "checks.text.shuffle_gap_low": 0.19, "checks.failed": "text.top_share",
              "checks.met": 0}
    unit = {"seed": 1, "isa": "avx2", "kernels": "AVX2", "top_up": {"top-up chunk kept": 19, "top-up chunks run": 25},
            "skills": skills}
    pr.write_atomic(pr.unit_path(1, "avx2"), unit)
    pr.report([0, 1], ["avx2"])
    out = capsys.readouterr().out
    assert "| 1 | avx2 (AVX2) | 19 of 25 | text 0.36 / 0.19 | chart 1.00 | text.top_share | **0** |" in out
    assert "met 0 of 1" in out and out.strip().endswith("not measured with this code and params: s0 avx2")


def test_a_unit_runs_in_its_own_process_with_its_environment_and_keeps_its_log(tmp_path):
    from benchmarks.units import run_unit

    (tmp_path / "unit.py").write_text("import os, sys\nprint('warming up', file=sys.stderr)\n"
                                      "print('RESULT {\"isa\": \"%s\"}' % os.environ['PIN'])\n")
    log = tmp_path / "log.txt"
    assert run_unit(["unit"], {"PIN": "avx2"}, tmp_path, "unit s0", log=log) == {"isa": "avx2"}
    assert log.read_text() == "warming up\n"
    (tmp_path / "broken.py").write_text("import sys\nprint('no result', file=sys.stderr)\n")
    with pytest.raises(SystemExit, match="unit s1 failed:\nno result"):
        run_unit(["broken"], {}, tmp_path, "unit s1", log=log)
    assert log.read_text() == "no result\n"  # kept for a failed unit too
