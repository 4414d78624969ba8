"""The round-dose benchmark's overrides: dotted keys with YAML values, validated like params.yaml."""

import pytest

from benchmarks.round_dose import overridden
from pipeline.config.params import load_params


def test_overrides_reach_the_params_and_are_validated():
    params = overridden(["train.epochs=4", "train.learning_rate=1e-4", "train.gate.steps=[1.0, 0.5, 0.25]"])
    assert params.train.epochs == 4 and params.train.learning_rate == pytest.approx(1e-4)
    assert list(params.train.gate.steps) == [1.0, 0.5, 0.25]
    assert overridden([]) == load_params()  # no override: params.yaml as it is
    with pytest.raises(Exception, match="learning_rate"):
        overridden(["train.learning_rate=fast"])
