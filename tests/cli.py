"""Running the real `cnnlab` command in a subprocess, as a user would."""

import subprocess
import sys


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
