import pytest
import torch

from cnnlab.data.augment import PRESETS, AugmentConfig, augment_batch, parse_augment, preview_grid
from cnnlab.data.images import ImageData
from cnnlab.data.loader import BatchLoader
from cnnlab.errors import CnnlabError


@pytest.fixture
def batch(digits):
    images, _ = digits
    x = torch.from_numpy(images[:32]).float().div(255)[:, None]  # (32, 1, 8, 8)
    return x.repeat(1, 3, 1, 1) * torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1)


def test_all_augmentations_keep_shape_range_and_are_seeded(batch):
    cfg = PRESETS["all"]
    a = augment_batch(batch, cfg, torch.Generator().manual_seed(3))
    b = augment_batch(batch, cfg, torch.Generator().manual_seed(3))
    c = augment_batch(batch, cfg, torch.Generator().manual_seed(4))
    assert a.shape == batch.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, batch)


def test_flip_is_exact_and_per_sample(batch):
    out = augment_batch(batch, AugmentConfig(hflip=True), torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, x.flip(-1)) for o, x in zip(out, batch, strict=True)]
    kept = [torch.equal(o, x) for o, x in zip(out, batch, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 4 < sum(flipped) < 28  # p = 0.5, each image drawn on its own


def test_grayscale_probability_one_makes_channels_equal(batch):
    out = augment_batch(batch, AugmentConfig(grayscale=1.0), torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


def test_small_shift_moves_content(batch):
    cfg = AugmentConfig(shift=0.25)
    out = augment_batch(batch, cfg, torch.Generator().manual_seed(0))
    assert (out - batch).abs().mean() > 0.02


def test_parse_augment():
    cfg = parse_augment("hflip,rotation=15,grayscale")
    assert cfg == AugmentConfig(hflip=True, rotation=15.0, grayscale=0.5)
    assert parse_augment("none") == AugmentConfig() and not parse_augment("none").enabled
    with pytest.raises(CnnlabError, match="Did you mean 'rotation'"):
        parse_augment("rotate=10")
    with pytest.raises(CnnlabError, match="needs a number"):
        parse_augment("zoom=big")


def test_preview_grid_first_column_is_original(batch):
    images = (batch[:4] * 255).round().to(torch.uint8)
    grid = preview_grid(images, PRESETS["all"], variants=3)
    assert grid.shape == (4, 4, 3, 8, 8)
    assert torch.allclose(grid[:, 0], images.float() / 255)


def test_loader_yields_every_sample_once_per_epoch_with_labels_intact(digits):
    images, labels = digits
    classes = [str(d) for d in range(10)]
    data = ImageData(torch.from_numpy(images[:100])[:, None], torch.from_numpy(labels[:100]), classes)
    loader = BatchLoader(data, 32, shuffle=True, augment=PRESETS["standard"], seed=5)
    orders = []
    for epoch in (0, 1, 0):
        loader.set_epoch(epoch)
        seen = []
        for x, y in loader:
            assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32
            seen.append(y)
        orders.append(torch.cat(seen))
    assert sorted(orders[0].tolist()) == sorted(labels[:100].tolist())
    assert not torch.equal(orders[0], orders[1]) and torch.equal(orders[0], orders[2])
    assert len(loader) == 4
    assert len(BatchLoader(data.subset(range(33)), 32, shuffle=True)) == 1  # no training batch of one
    assert len(BatchLoader(data.subset(range(33)), 32)) == 2


def test_translate_is_a_whole_pixel_shift_with_mirrored_edges(batch):
    out = augment_batch(batch, AugmentConfig(translate=2), torch.Generator().manual_seed(1))
    assert out.shape == batch.shape
    padded = torch.nn.functional.pad(batch, (2, 2, 2, 2), mode="reflect")
    for o, p in zip(out, padded, strict=True):  # each output is one 8x8 window of its mirrored image
        windows = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(o, p[:, dy:dy + 8, dx:dx + 8])]
        assert windows
    moved = sum(not torch.equal(o, x) for o, x in zip(out, batch, strict=True))
    assert moved > 20  # 24 of 25 offsets move the image


def test_cutout_greys_one_clipped_square_per_image(batch):
    out = augment_batch(batch, AugmentConfig(cutout=4), torch.Generator().manual_seed(2))
    changed = (out != batch).any(1)  # (N, H, W)
    assert ((out == 0.5) | ~changed[:, None]).all()
    areas = changed.sum((1, 2))
    assert areas.max() <= 16 and (areas > 0).float().mean() > 0.8


def test_fast_preset_keeps_labels_and_is_deterministic_per_epoch(digits):
    images, labels = digits
    data = ImageData(torch.from_numpy(images[:64])[:, None].repeat(1, 3, 1, 1), torch.from_numpy(labels[:64]),
                     [str(d) for d in range(10)])
    loader = BatchLoader(data, 16, shuffle=True, augment=parse_augment("fast,cutout=3"), seed=9)
    first, again = list(loader), list(loader)
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and xa.shape == (16, 3, 8, 8)
    x, y = torch.cat([b[0] for b in first]), torch.cat([b[1] for b in first])
    assert sorted(y.tolist()) == sorted(labels[:64].tolist())
    plain = BatchLoader(data, 16, shuffle=True, seed=9)
    x0 = torch.cat([b[0] for b in plain])
    assert torch.equal(y, torch.cat([b[1] for b in plain])) and not torch.equal(x, x0)


def test_class_balanced_batches_hold_per_class_images_of_each_class_drawn():
    import torch

    from cnnlab.data.images import ImageData
    from cnnlab.data.loader import BatchLoader

    labels = torch.arange(40).repeat_interleave(5)  # 40 classes of 5: plain batches of 32 would rarely pair
    data = ImageData(torch.zeros(200, 1, 4, 4, dtype=torch.uint8), labels, [str(c) for c in range(40)])
    loader = BatchLoader(data, 32, shuffle=True, seed=3, per_class=4, drop_last=True)
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        batches = [y for _, y in loader]
        assert len(batches) == 6 and all(len(y) == 32 for y in batches)
        for y in batches:
            assert sorted(set(torch.bincount(y, minlength=40).tolist()) - {0}) == [4]  # 8 classes x 4 images
        loader.set_epoch(epoch)
        assert all(torch.equal(a, b) for a, b in zip(batches, [y for _, y in loader], strict=True))  # exact resume
