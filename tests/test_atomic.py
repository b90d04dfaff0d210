"""Atomic writes never follow a link planted at the temporary or the target name."""

from cnnlab.atomic import replacing, write_text
from cnnlab.train.run import write_json_atomic


def test_planted_links_are_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    for name in (".report.html.tmp", ".report.tmp.html", ".report.html.new", ".config.json.tmp"):
        (out / name).symlink_to(victim)  # the names earlier versions wrote to
    write_text(out / "report.html", "<html></html>")
    write_json_atomic(out / "config.json", {"a": 1})
    (out / "linked.png").symlink_to(victim)
    with replacing(out / "linked.png") as tmp:
        tmp.write_bytes(b"png")
    assert victim.read_text() == "precious"
    assert (out / "report.html").read_text() == "<html></html>" and not (out / "linked.png").is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    try:
        with replacing(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_index_parts_are_written_as_new_files_never_through_a_link(tmp_path):
    from cnnlab.index.folder import _write_part

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / ".meta.json.tmp"
    planted.symlink_to(victim)
    record = _write_part(planted, lambda f: f.write(b"{}"))
    assert victim.read_text() == "precious" and not planted.is_symlink() and planted.read_bytes() == b"{}"
    assert record["bytes"] == 2


def test_written_files_have_the_permissions_of_any_new_file(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    write_text(tmp_path / "report.html", "<html></html>")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
