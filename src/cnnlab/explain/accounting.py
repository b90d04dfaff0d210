"""The lecture's resource accounting of one convolution layer, from its shape alone (no torch).

For a 150x100 RGB image and 200 filters of 5x5, stride 1, padding "same": (5*5*3 + 1) * 200 = 15,200 parameters;
150 * 100 * 200 feature-map neurons each summing 5*5*3 = 75 inputs = 225,000,000 multiplications; 200 * 150 * 100
values of 32 bits = 96,000,000 bits = 12,000,000 bytes = 12 MB per image (decimal megabytes, as the lecture counts)
and 1.2 GB for a batch of 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnlab.checks import check_choice, check_number
from cnnlab.errors import ConfigError

PADDINGS = ("same", "valid")


def output_side(side: int, kernel: int, stride: int, padding: str) -> int:
    """Output length along one axis: ceil(side / stride) with 'same' zero padding, floor((side - kernel) / stride)
    + 1 with 'valid' (no padding), as TensorFlow and PyTorch compute them."""
    if padding == "same":
        return math.ceil(side / stride)
    if kernel > side:
        raise ConfigError(f"a {kernel}x{kernel} kernel does not fit in a side of {side} without padding; use "
                          "--padding same or a smaller --kernel")
    return (side - kernel) // stride + 1


@dataclass(frozen=True)
class LayerCost:
    """Everything the lecture counts for one convolution layer; memory in bytes."""

    height: int
    width: int
    channels: int
    filters: int
    kernel: int
    stride: int
    padding: str
    batch: int
    bits: int
    out_height: int
    out_width: int

    @property
    def inputs_per_neuron(self) -> int:
        return self.kernel * self.kernel * self.channels

    @property
    def parameters(self) -> int:
        return (self.inputs_per_neuron + 1) * self.filters  # + 1: each filter's bias

    @property
    def neurons(self) -> int:
        return self.out_height * self.out_width * self.filters

    @property
    def multiplications(self) -> int:
        return self.neurons * self.inputs_per_neuron

    @property
    def bits_per_image(self) -> int:
        return self.neurons * self.bits

    @property
    def bytes_per_image(self) -> int:
        return self.bits_per_image // 8

    @property
    def bytes_per_batch(self) -> int:
        return self.bytes_per_image * self.batch

    def rows(self) -> list[dict]:
        """The printed table: what, how it is counted, how much."""
        k, c, f = self.kernel, self.channels, self.filters
        return [
            {"what": "input (height x width x channels)", "how": "", "value": f"{self.height}x{self.width}x{c}"},
            {"what": "feature maps (height x width x filters)",
             "how": f"padding {self.padding}, stride {self.stride}",
             "value": f"{self.out_height}x{self.out_width}x{f}"},
            {"what": "parameters", "how": f"({k}x{k}x{c} + 1) x {f}", "value": f"{self.parameters:,}"},
            {"what": "multiplications per image",
             "how": f"{self.out_height}x{self.out_width}x{f} neurons x {self.inputs_per_neuron} inputs",
             "value": f"{self.multiplications:,} ({human_count(self.multiplications)})"},
            {"what": "feature-map memory per image", "how": f"{self.neurons:,} values x {self.bits} bits",
             "value": f"{self.bits_per_image:,} bits = {self.bytes_per_image:,} bytes = "
                      f"{human_bytes(self.bytes_per_image)}"},
            {"what": f"feature-map memory per batch of {self.batch}", "how": f"x {self.batch}",
             "value": f"{self.bytes_per_batch:,} bytes = {human_bytes(self.bytes_per_batch)}"},
        ]


def conv_layer_cost(input_hwc: tuple[int, int, int], *, filters: int, kernel: int, stride: int = 1,
                    padding: str = "same", batch: int = 1, bits: int = 32) -> LayerCost:
    """The accounting of a convolution layer of `filters` kernels of kernel x kernel x channels over an input of
    `input_hwc` (height, width, channels). ConfigError names the option that is out of range."""
    check_number("filters", filters, low=1, high=1_000_000, integer=True)
    check_number("kernel", kernel, low=1, high=10_000, integer=True)
    check_number("stride", stride, low=1, high=10_000, integer=True)
    check_number("batch", batch, low=1, high=1_000_000_000, integer=True)
    check_number("bits", bits, low=1, high=64, integer=True)
    check_choice("padding", padding, PADDINGS)
    height, width, channels = input_hwc
    return LayerCost(height, width, channels, filters, kernel, stride, padding, batch, bits,
                     output_side(height, kernel, stride, padding), output_side(width, kernel, stride, padding))


def human_count(n: int) -> str:
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if n >= size:
            return f"{n / size:.4g} {word}"
    return str(n)


def human_bytes(n: int) -> str:
    """Decimal units, as the lecture counts (12,000,000 bytes = 12 MB), with the binary size beside."""
    for size, unit, binary in ((10**12, "TB", 2**40), (10**9, "GB", 2**30), (10**6, "MB", 2**20), (10**3, "kB", 2**10)):
        if n >= size:
            return f"{n / size:.4g} {unit} ({n / binary:.4g} {unit[0].replace('k', 'K')}iB)"
    return f"{n} bytes"
