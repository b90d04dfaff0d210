"""Running the real `cnnlab` command in a subprocess, as a user would."""

import os
import subprocess
import sys


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def cnnlab(capsys, *args) -> tuple[int, str]:
    """`cnnlab ARGS` through cnnlab.cli.main in this process: (exit code, stdout + stderr, spaces collapsed).
    With CNNLAB_DEBUG set, an exception that is not ours propagates and fails the test with its traceback
    (a user would see "internal error: ... a cnnlab bug")."""
    from cnnlab.cli import main

    argv, sys.argv = sys.argv, ["cnnlab", *map(str, args)]
    debug = os.environ.get("CNNLAB_DEBUG")
    os.environ["CNNLAB_DEBUG"] = "1"
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
        if debug is None:
            del os.environ["CNNLAB_DEBUG"]
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def fake_run(folder, config_text: str, checkpoint=None) -> None:
    """A folder that looks like a run: config.json, and best.pt/last.pt holding `checkpoint` (bytes are written
    as they are, anything else with torch.save)."""
    import torch

    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.json").write_text(config_text)
    for file in ("best.pt", "last.pt"):
        if isinstance(checkpoint, bytes):
            (folder / "checkpoints" / file).write_bytes(checkpoint)
        elif checkpoint is not None:
            torch.save(checkpoint, folder / "checkpoints" / file)
