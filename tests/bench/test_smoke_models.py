"""Half of the benchmarks in their --smoke mode: those that mostly train (see tests/bench/__init__.py)."""

import pytest

from tests.bench import BENCHES, run_smoke

HERE = ("classify_cpu", "cpu_speed", "fast_recipe", "generate_cpu", "similarity_defaults", "speed", "transfer_cpu")


def test_every_benchmark_is_smoked_by_one_of_the_two_files():
    from tests.bench.test_smoke_tools import HERE as THERE

    assert sorted(HERE + THERE) == BENCHES and "speed" in BENCHES and len(BENCHES) >= 13


@pytest.mark.parametrize("name", HERE)
def test_benchmark_runs_in_smoke_mode(name, monkeypatch, capsys):
    run_smoke(name, monkeypatch, capsys)
