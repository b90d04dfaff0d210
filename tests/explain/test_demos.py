"""`cnnlab explain layer / filters / pooling`: the lecture's arithmetic and demos, checked by hand."""

import numpy as np
import pytest
from PIL import Image

from cnnlab.checks import parse_hwc
from cnnlab.errors import CnnlabError, ConfigError, DataError
from cnnlab.explain.accounting import conv_layer_cost
from cnnlab.explain.demos import convolve, depth_pool, pool
from cnnlab.explain.kernels import kernel_file, line
from tests.cli import cnnlab


def test_layer_equals_the_lectures_figures():
    cost = conv_layer_cost((150, 100, 3), filters=200, kernel=5, stride=1, padding="same", batch=100, bits=32)
    assert (cost.out_height, cost.out_width) == (150, 100)
    assert cost.parameters == 15_200  # (5x5x3 + 1) x 200
    assert cost.inputs_per_neuron == 75
    assert cost.multiplications == 225_000_000  # 150x100x200 neurons x 75 inputs
    assert cost.bits_per_image == 96_000_000  # 200x150x100x32 bits
    assert cost.bytes_per_image == 12_000_000  # = 12 MB, decimal, as the lecture counts
    assert cost.bytes_per_batch == 1_200_000_000  # = 1.2 GB for 100 images


def test_layer_equals_a_hand_computation_for_other_shapes():
    # 64 high, 48 wide RGB; 10 filters 3x3, stride 2, "same": ceil(64/2) x ceil(48/2) = 32x24 outputs
    cost = conv_layer_cost((64, 48, 3), filters=10, kernel=3, stride=2, padding="same", batch=8, bits=16)
    assert (cost.out_height, cost.out_width) == (32, 24)
    assert cost.parameters == (3 * 3 * 3 + 1) * 10 == 280
    assert cost.multiplications == 32 * 24 * 10 * 27 == 207_360
    assert cost.bytes_per_image == 32 * 24 * 10 * 2 == 15_360 and cost.bytes_per_batch == 122_880
    # LeNet-5's first layer: 32x32x1, 6 filters 5x5, no padding: 28x28x6
    lenet = conv_layer_cost((32, 32, 1), filters=6, kernel=5, padding="valid")
    assert (lenet.out_height, lenet.out_width, lenet.parameters, lenet.multiplications) == (28, 28, 156, 117_600)
    # height and width are kept apart: a 7-high, 9-wide input, valid 3x3 stride 2 -> 3x4
    wide = conv_layer_cost((7, 9, 2), filters=1, kernel=3, stride=2, padding="valid")
    assert (wide.out_height, wide.out_width) == (3, 4)


def test_layer_command_prints_the_table_and_writes_a_png(capsys, tmp_path):
    code, out = cnnlab(capsys, "explain", "layer", "--input", "150x100x3", "--filters", "200", "--kernel", "5",
                       "--stride", "1", "--padding", "same", "--batch", "100", "--bits", "32", "--out", tmp_path)
    assert code == 0, out
    assert "15,200" in out and "225,000,000" in out and "12 MB" in out and "1.2 GB" in out
    assert (tmp_path / "layer.png").stat().st_size > 5000
    assert cnnlab(capsys, "explain", "layer", "--out", tmp_path)[0] == 0
    assert (tmp_path / "layer-2.png").is_file()  # the first one is kept


@pytest.mark.parametrize("args, words", [(["--input", "150by100"], "HEIGHTxWIDTHxCHANNELS"),
                                         (["--input", "0x5x3"], "HEIGHTxWIDTHxCHANNELS"),
                                         (["--filters", "0"], "--filters"),
                                         (["--padding", "full"], "--padding"),
                                         (["--input", "4x4x1", "--kernel", "5", "--padding", "valid"],
                                          "--padding same")])
def test_layer_refuses_bad_options_with_a_message(capsys, tmp_path, args, words):
    code, out = cnnlab(capsys, "explain", "layer", *args, "--out", tmp_path)
    assert code == 2 and words in out and "Traceback" not in out


def test_hwc_is_height_then_width():
    assert parse_hwc("150x100x3") == (150, 100, 3) and parse_hwc("28x28") == (28, 28, 1)
    with pytest.raises(ConfigError):
        parse_hwc("3x")


def drawn_lines() -> np.ndarray:
    """40 high, 60 wide, black; a vertical white line (column 15) on the left, a horizontal one (row 20) on the
    right."""
    image = np.zeros((40, 60, 1), np.float32)
    image[5:35, 15] = 1
    image[20, 35:55] = 1
    return image


def test_vertical_line_filter_responds_to_vertical_edges_not_horizontal():
    image = drawn_lines()
    vertical = convolve(image, line(7, vertical=True))
    assert vertical[:, :30].max() == pytest.approx(7)  # seven ones on the vertical line
    assert vertical[:, 30:].max() == pytest.approx(1)  # one pixel of the horizontal line
    horizontal = convolve(image, line(7, vertical=False))
    assert horizontal[:, 30:].max() == pytest.approx(7) and horizontal[:, :30].max() == pytest.approx(1)
    rgb = np.repeat(image, 3, axis=2)  # the lecture's 7x7x3 filters sum over the channels
    assert convolve(rgb, line(7, vertical=True)).max() == pytest.approx(21)


def test_valid_padding_shrinks_by_kernel_minus_one_and_stride_divides():
    image = drawn_lines()
    assert convolve(image, line(7, True), padding="valid").shape == (40 - 6, 60 - 6)
    assert convolve(image, line(3, True), padding="valid").shape == (38, 58)
    assert convolve(image, line(7, True), padding="same").shape == (40, 60)
    assert convolve(image, line(7, True), padding="same", stride=2).shape == (20, 30)
    assert convolve(image, line(7, True), padding="valid", stride=2).shape == (17, 27)


def test_pooling_sizes_and_values():
    image = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3) / 100
    maxed, averaged = pool(image, "max", 2), pool(image, "average", 2)
    assert maxed.shape == averaged.shape == (3, 2, 3)
    assert maxed[0, 0, 0] == pytest.approx(image[:2, :2, 0].max())
    assert averaged[0, 0, 0] == pytest.approx(image[:2, :2, 0].mean())
    across = depth_pool(image.transpose(2, 0, 1), 3)
    assert across.shape == (1, 4, 6) and np.allclose(across[0], image.max(2))
    with pytest.raises(ConfigError, match="--stride"):
        pool(image, "max", 2, 0)
    with pytest.raises(ConfigError, match="divide"):
        depth_pool(image.transpose(2, 0, 1), 2)


def test_filters_command_on_a_drawn_image_and_a_kernel_file(capsys, tmp_path):
    Image.fromarray((drawn_lines()[..., 0] * 255).astype(np.uint8)).save(tmp_path / "lines.png")
    np.save(tmp_path / "edge.npy", np.array([[1, -1], [1, -1]], np.float32))
    code, out = cnnlab(capsys, "explain", "filters", tmp_path / "lines.png", "--kernel", "vertical", "--kernel",
                       tmp_path / "edge.npy", "--kernel", "sobel-x", "--padding", "valid", "--out", tmp_path / "o")
    assert code == 0, out
    assert "34x54" in out and "39x59" in out and "38x58" in out  # 7x7, 2x2 and 3x3 kernels, valid
    assert (tmp_path / "o" / "filters.png").stat().st_size > 5000
    code, out = cnnlab(capsys, "explain", "pooling", tmp_path / "lines.png", "--kernel", "vertical", "--kernel",
                       "horizontal", "--depth", "2", "--out", tmp_path / "o")
    assert code == 0, out
    assert "20x30x2" in out and "40x60x1" in out
    assert (tmp_path / "o" / "pooling.png").stat().st_size > 5000


def test_bad_kernels_and_images_are_refused(capsys, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read"):
        kernel_file(tmp_path / "obj.npy")  # never unpickled
    np.save(tmp_path / "rect.npy", np.ones((3, 4)))
    with pytest.raises(DataError, match="square"):
        kernel_file(tmp_path / "rect.npy")
    (tmp_path / "k.txt").write_text("1 2\n3 nan\n")
    with pytest.raises(DataError, match="NaN"):
        kernel_file(tmp_path / "k.txt")
    (tmp_path / "fake.png").write_text("not an image")
    for args in (["--kernel", "sobelx"], [tmp_path / "fake.png"], [tmp_path / "missing.png"]):
        code, out = cnnlab(capsys, "explain", "filters", *args, "--out", tmp_path / "o")
        assert code == 2 and "Traceback" not in out, out
    assert "sobel-x" in cnnlab(capsys, "explain", "filters", "--kernel", "sobelx")[1]
    (tmp_path / "file").write_text("")
    assert "is a file" in cnnlab(capsys, "explain", "layer", "--out", tmp_path / "file")[1]
    assert issubclass(ConfigError, CnnlabError)
