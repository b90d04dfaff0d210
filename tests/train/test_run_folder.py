"""Run folders: plain names only, --overwrite removes only what cnnlab made, locks, no half-made folders."""

import subprocess
import sys
import textwrap

import pytest

from cnnlab.classify.config import ClassifyConfig
from cnnlab.errors import ConfigError, RunFolderError
from cnnlab.session import session
from cnnlab.train.run import MARKER, RunDir, check_run_name, start_run
from tests.cli import run_cli


@pytest.mark.parametrize("name", ["/tmp/victim", "../../x", "a/b", "..", ".hidden", "", "x" * 200, "a b", "a\\b"])
def test_names_that_leave_the_runs_folder_are_refused(name):
    with pytest.raises(ConfigError, match="plain folder name"):
        check_run_name(name)
    with pytest.raises(ConfigError):
        ClassifyConfig(name=name)


def test_overwrite_never_removes_a_folder_cnnlab_did_not_make(tmp_path):
    victim = tmp_path / "runs" / "classify" / "mine"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("years of work")
    with pytest.raises(RunFolderError, match="not made by cnnlab"):
        RunDir.create(victim, overwrite=True)
    assert (victim / "thesis.tex").read_text() == "years of work"


def test_cli_overwrite_with_a_path_as_name_touches_nothing(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    for name in (str(victim), "../../victim"):
        result = run_cli("classify", "train", "--name", name, "--overwrite", "--epochs", "1",
                         "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "plain folder name" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert (victim / "keep.txt").read_text() == "keep"
    assert not (tmp_path / "runs").exists()


def test_overwrite_replaces_a_cnnlab_run_and_open_checks_the_task(tmp_path):
    path = tmp_path / "runs" / "classify" / "r"
    run = RunDir.create(path)
    assert (path / MARKER).is_file()
    run.last_checkpoint.write_bytes(b"x")
    with pytest.raises(RunFolderError, match="already exists"):
        RunDir.create(path)
    RunDir.create(path, overwrite=True)
    assert not (path / "checkpoints" / "last.pt").exists()
    (path / "config.json").write_text("{}")
    with pytest.raises(RunFolderError, match="is a classify run, not a segment run"):
        RunDir.open(path, task="segment")


def test_a_run_folder_in_use_by_another_process_is_refused(tmp_path):
    path = tmp_path / "runs" / "classify" / "busy"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from cnnlab.train.run import RunDir
        RunDir.create({str(path)!r})
        print("ready", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(RunFolderError, match="in use by another cnnlab process"):
            RunDir.create(path, overwrite=True)
        assert (path / MARKER).is_file()
    finally:
        holder.kill()
        holder.wait()
    RunDir.create(path, overwrite=True)  # the lock dies with its process


def test_a_failed_start_leaves_no_run_folder(tmp_path):
    empty = tmp_path / "empty-data"
    empty.mkdir()
    result = run_cli("classify", "train", "--data", f"folder:{empty}", "--name", "x", "--runs-dir", "runs",
                     cwd=tmp_path)
    assert result.returncode == 2 and "no class subfolders" in result.stdout
    assert not (tmp_path / "runs" / "classify" / "x").exists()


def test_a_folder_that_never_finished_an_epoch_does_not_block_a_new_run(tmp_path):
    cfg = ClassifyConfig(name="stale", runs_dir=str(tmp_path))
    run, _, _ = start_run(cfg, ClassifyConfig.from_dict, resume=False, overwrite=False)  # outside any session
    (run.path / "log.txt").write_text("crashed while reading data\n")
    with session() as made:
        run, _, _ = start_run(cfg, ClassifyConfig.from_dict, resume=False, overwrite=False)
        assert not (run.path / "log.txt").exists()
        assert made.started == [run.path] and made.fresh[0].path == run.path
    made.discard_failed_starts()
    assert not run.path.exists() and not (tmp_path / "classify/.stale.lock").exists()


def test_sessions_record_their_own_runs_and_the_process_keeps_no_list(tmp_path):
    """What a command started is its session's, passed by context: nested and later sessions see only theirs,
    and the module that makes run folders holds no list of them."""
    import cnnlab.train.run as runs

    with session() as outer:
        start_run(ClassifyConfig(name="a", runs_dir=str(tmp_path)), ClassifyConfig.from_dict, resume=False,
                  overwrite=False)
        with session() as inner:
            start_run(ClassifyConfig(name="b", runs_dir=str(tmp_path)), ClassifyConfig.from_dict, resume=False,
                      overwrite=False)
    assert [p.name for p in outer.started] == ["a"] and [p.name for p in inner.started] == ["b"]
    assert not [n for n, v in vars(runs).items() if isinstance(v, list | dict | set) and not n.startswith("__")]


def test_a_process_may_take_its_own_run_lock_again_but_another_may_not(tmp_path):
    """A notebook resumes the run it trained (the same process takes the lock again); another process is refused
    while this one holds it."""
    import subprocess
    import sys

    first = RunDir.create(tmp_path / "classify" / "r")
    (first.path / "checkpoints" / "last.pt").write_bytes(b"x")
    (first.path / "config.json").write_text("{}")
    again = RunDir.create(tmp_path / "classify" / "r", resume=True)
    assert again.path == first.path
    other = subprocess.run([sys.executable, "-c", "import sys; from cnnlab.train.run import RunDir; "
                            f"RunDir.create({str(first.path)!r}, resume=True)"], capture_output=True, text=True)
    assert other.returncode != 0 and "in use by another cnnlab process" in other.stderr


def test_paths_with_brackets_are_printed_as_text(tmp_path):
    folder = tmp_path / "photos [2024]" / "[bold]x"
    result = run_cli("classify", "train", "--data", f"folder:{folder}", cwd=tmp_path)
    assert result.returncode == 2
    assert "photos [2024]/[bold]x" in result.stdout


def test_a_run_name_that_is_a_link_is_refused_and_left_alone(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "data.txt").write_text("keep")
    link = tmp_path / "runs" / "classify" / "link"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    with pytest.raises(RunFolderError, match="symbolic link"):
        RunDir.create(link, overwrite=True)
    assert link.is_symlink() and (real / "data.txt").read_text() == "keep"
