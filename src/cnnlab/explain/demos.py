"""The lecture's convolution and pooling demos on one image, computed with torch's conv2d and pooling.

Images are float arrays (H, W, C) in [0, 1]; results are float arrays (maps, H', W').
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnnlab.checks import check_choice, check_number
from cnnlab.errors import ConfigError
from cnnlab.explain.accounting import PADDINGS, output_side


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding so that the output has ceil(side / stride) positions, the extra row or column at the bottom
    or right (TensorFlow's "same", which torch's padding='same' offers only for stride 1)."""
    pads = []
    for side in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first
        total = max((output_side(side, kernel, stride, "same") - 1) * stride + kernel - side, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def convolve(image: np.ndarray, kernel: np.ndarray, *, padding: str = "same", stride: int = 1) -> np.ndarray:
    """One feature map (H', W'): the (k, k) kernel applied to every channel of the image and the results summed,
    as the lecture's 7x7x3 filters do (a cross-correlation, as in every deep-learning library)."""
    check_choice("padding", padding, PADDINGS)
    check_number("stride", stride, low=1, high=1000, integer=True)
    size = kernel.shape[0]
    height, width, channels = image.shape
    for side in (height, width):
        output_side(side, size, stride, padding)  # a kernel larger than a valid image is refused with a message
    x = _tensor(image)
    if padding == "same":
        x = pad_same(x, size, stride)
    weight = torch.from_numpy(np.ascontiguousarray(kernel, np.float32)).expand(1, channels, size, size)
    return F.conv2d(x, weight, stride=stride)[0, 0].numpy()


def pool(image: np.ndarray, kind: str, size: int, stride: int | None = None) -> np.ndarray:
    """Max or average pooling of each channel over size x size windows ("valid": no padding, the default of
    Keras' MaxPool2D): (H, W, C) -> (C, H', W')."""
    check_choice("pool", kind, ("max", "average"))
    check_number("size", size, low=1, high=1000, integer=True)
    stride = size if stride is None else stride
    check_number("stride", stride, low=1, high=1000, integer=True)
    height, width, _ = image.shape
    if size > min(height, width):
        raise ConfigError(f"--window {size} is larger than the {height}x{width} image; pass a smaller --window")
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    return op(_tensor(image), size, stride)[0].numpy()


def depth_pool(maps: np.ndarray, depth: int) -> np.ndarray:
    """Max pooling across channels (the lecture's depth-wise pooling): (C, H, W) -> (C / depth, H, W), each output
    the maximum of `depth` consecutive channels, so the spatial size is kept."""
    channels = maps.shape[0]
    check_number("depth", depth, low=1, high=channels, integer=True)
    if channels % depth:
        raise ConfigError(f"--depth {depth} does not divide the {channels} channels; pass a divisor of {channels}")
    return maps.reshape(channels // depth, depth, *maps.shape[1:]).max(1)
