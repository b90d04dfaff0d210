"""Only the data given, for generate, classify, segment: see tests/defaults/matrix.py."""

from tests.defaults.matrix import digit_image, only_shared_data_given, only_the_data_given, rooms, shared_rooms

__all__ = ["digit_image"]  # the fixture, used by name


@rooms("generate", "classify", "segment")
def test_only_the_data_given(task, data, verbs, digit_image, tmp_path, capsys):
    only_the_data_given(task, data, verbs, digit_image, tmp_path, capsys)


@shared_rooms("classify", "segment")
def test_only_shared_data_given(task, data, folder, verbs, digit_image, tmp_path, capsys):
    only_shared_data_given(task, data, folder, verbs, digit_image, tmp_path, capsys)
