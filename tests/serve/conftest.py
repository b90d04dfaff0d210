import numpy as np
import pytest
from PIL import Image

from cnnlab.similarity.search import build_index


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, digits):
    """A raw-pixel index of a real folder: 3 digit classes, 20 images each."""
    root = tmp_path_factory.mktemp("gallery")
    images, labels = digits
    for cls in (0, 1, 2):
        (root / f"class{cls}").mkdir()
        for k, i in enumerate(np.flatnonzero(labels == cls)[:20]):
            Image.fromarray(images[i]).resize((16, 16)).save(root / f"class{cls}" / f"{k}.png")
    out = tmp_path_factory.mktemp("index") / "idx"
    build_index("pixels", str(root), out, image_size=16)
    return out, root
