"""Downloads: https only, published checksums, archives that cannot escape their folder. No network is used."""

import hashlib
import io
import tarfile

import pytest

from cnnlab.data import download
from cnnlab.errors import DataError


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def serve(monkeypatch, payload: bytes):
    seen = []

    def urlopen(url, timeout):
        seen.append(url)
        return FakeResponse(payload)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    return seen


def test_a_file_with_the_wrong_checksum_is_not_kept(tmp_path, monkeypatch):
    serve(monkeypatch, b"tampered")
    with pytest.raises(DataError, match="does not match its published SHA256"):
        download.fetch_verified("https://example.org/f.gz", tmp_path / "f.gz", "sha256", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_the_right_checksum_is_kept_and_http_is_refused(tmp_path, monkeypatch):
    serve(monkeypatch, b"official")
    digest = hashlib.sha256(b"official").hexdigest()
    download.fetch_verified("https://example.org/f.gz", tmp_path / "f.gz", "sha256", digest)
    assert (tmp_path / "f.gz").read_bytes() == b"official"
    with pytest.raises(DataError, match="only https"):
        download.fetch_verified("http://example.org/g.gz", tmp_path / "g.gz", "sha256", digest)


def test_every_source_is_https_with_a_checksum():
    for base, files in download.SOURCES.values():
        assert base.startswith("https://")
        for algorithm, digest in files.values():
            assert len(digest) == hashlib.new(algorithm).digest_size * 2


def test_archive_members_cannot_leave_the_folder(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(DataError, match="cannot unpack"):
        download.extract(archive, target)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_failed_download_leaves_no_folder_behind(tmp_path, monkeypatch):
    serve(monkeypatch, b"tampered")
    with pytest.raises(DataError):
        download.download_dataset("mnist", str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()
