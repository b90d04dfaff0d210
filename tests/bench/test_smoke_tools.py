"""The other half of the benchmarks in their --smoke mode: export, loading, localize, search and the service."""

import pytest

from tests.bench import run_smoke

HERE = ("export_cpu", "export_parity", "generate_small", "load_folder", "localize_pet", "serve_changes", "serve_load",
        "similarity_cpu")


@pytest.mark.parametrize("name", HERE)
def test_benchmark_runs_in_smoke_mode(name, monkeypatch, capsys):
    run_smoke(name, monkeypatch, capsys)
