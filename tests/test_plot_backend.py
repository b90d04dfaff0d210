"""Our figures go to files through Agg, but inside a Jupyter kernel the user's plotting backend is left alone."""

import subprocess
import sys

import pytest

CODE = """
import sys, types, matplotlib
matplotlib.use("svg")
if {kernel}:
    sys.modules["ipykernel"] = types.ModuleType("ipykernel")
import cnnlab.report.plots, cnnlab.explain.figures
print(matplotlib.get_backend().lower())
"""


@pytest.mark.parametrize(("kernel", "backend"), [(True, "svg"), (False, "agg")])
def test_backend(kernel, backend):
    out = subprocess.run([sys.executable, "-c", CODE.format(kernel=kernel)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == backend
