"""Query images are read as a person sees them, at no more than the size needed."""

import io

import numpy as np
import pytest
from PIL import Image

from cnnlab.errors import DataError
from cnnlab.index.gallery import decode_image


def encoded(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_16_bit_png_is_scaled_not_clipped():
    mid_gray = Image.fromarray(np.full((20, 30), 32768, np.uint16))
    assert mid_gray.mode.startswith("I;16")
    x = decode_image(encoded(mid_gray), 16)
    assert x.shape == (1, 16, 16) and abs(int(x.float().mean()) - 128) <= 1


def test_transparency_is_over_white_and_palette_images_keep_their_colours():
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # fully transparent black: a person sees white
    assert int(decode_image(encoded(rgba), 8).min()) == 255
    palette = Image.new("RGB", (20, 20), (200, 30, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    x = decode_image(encoded(palette), 8)
    assert x.shape[0] == 3 and abs(int(x[0, 4, 4]) - 200) <= 4 and int(x[1, 4, 4]) < 60


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": the left half ends on top
    x = decode_image(encoded(img, "JPEG", exif=exif, quality=95), 20)
    assert x[0, 2, 10] > 200 and x[2, 2, 10] < 60  # top: red
    assert x[2, 17, 10] > 200 and x[0, 17, 10] < 60  # bottom: blue


def test_a_large_jpeg_is_decoded_at_reduced_size(monkeypatch):
    from PIL import JpegImagePlugin

    asked = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        asked.append(size)
        return real(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = Image.new("RGB", (2400, 1600), (10, 200, 10))
    x = decode_image(encoded(big, "JPEG"), 64)
    assert x.shape == (3, 64, 64) and int(x[1].min()) > 180
    assert asked and max(asked[0]) <= 2400 // 2  # the decoder was told to scale down


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n broken", b"GIF89a but not really"])
def test_broken_uploads_are_not_images(data):
    from cnnlab.errors import NotAnImageError

    with pytest.raises(NotAnImageError):
        decode_image(data, 16)


def test_a_crop_is_in_pixels_of_the_image_as_shown():
    """Stored on its side with EXIF orientation 6: the crop's pixels are the upright image's."""
    upright = Image.new("L", (400, 200), 0)
    upright.paste(255, (200, 0, 400, 200))  # right half white
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 200x400 on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: upright again
    data = encoded(stored, "JPEG", exif=exif.tobytes(), quality=95)
    assert int(decode_image(data, 16, crop=(220, 10, 390, 190)).min()) > 240
    assert int(decode_image(data, 16, crop=(10, 10, 180, 190)).max()) < 15
    with pytest.raises(DataError, match="does not fit the upload of 400x200 pixels"):
        decode_image(data, 16, crop=(0, 0, 200, 400))  # fits the stored 200x400, not what a person sees


def test_a_large_jpeg_crop_is_decoded_at_reduced_size_but_keeps_its_detail():
    big = Image.new("RGB", (4000, 3000), (255, 255, 255))
    big.paste((255, 0, 0), (3000, 2000, 3400, 2400))  # a red square of 400 px
    data = encoded(big, "JPEG", quality=90)
    x = decode_image(data, 64, crop=(3000, 2000, 3400, 2400))
    assert x.shape == (3, 64, 64) and int(x[0].float().mean()) > 230 and int(x[1].float().mean()) < 30
