"""`cnnlab explain ...`: look inside a CNN. Each command prints a short table and writes PNGs into --out.

torch and matplotlib are imported inside the commands, so `cnnlab --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cnnlab.cliutil import print_table, show_figures
from cnnlab.console import console
from cnnlab.errors import ConfigError

app = typer.Typer(no_args_is_help=True)

OUT = typer.Option("explain", "--out", help="folder the PNGs go to (made if missing; existing files are kept, "
                   "new ones numbered NAME-2.png, ...)")
IMAGES = typer.Argument(None, help="image files, or 'china' / 'flower' (scikit-learn's sample photos) [both]")


def out_folder(out: str) -> Path:
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder for the PNGs")
    return folder


def wrote(paths: list[Path]) -> None:
    for path in paths:
        console.print(f"wrote {path}")


@app.command("layer")
def layer(input: str = typer.Option("150x100x3", "--input", help="HEIGHTxWIDTHxCHANNELS of the layer's input "
                                    "(the lecture's 150x100 RGB image: 150x100x3)"),
          filters: int = typer.Option(200, "--filters", help="number of filters (feature maps)"),
          kernel: int = typer.Option(5, "--kernel", help="kernel side k (k x k x channels weights per filter)"),
          stride: int = typer.Option(1, "--stride"),
          padding: str = typer.Option("same", "--padding", help="same (zero padding) or valid (none)"),
          batch: int = typer.Option(100, "--batch-size", "--batch", help="images per batch, for the memory of a "
                                     "batch"),
          bits: int = typer.Option(32, "--bits", help="bits per value (32 for float32, 16 for bf16)"),
          out: str = OUT) -> None:
    """Resource accounting of one convolution layer: parameters, multiplications, feature-map memory."""
    from cnnlab.checks import parse_hwc
    from cnnlab.explain.accounting import conv_layer_cost

    cost = conv_layer_cost(parse_hwc(input), filters=filters, kernel=kernel, stride=stride, padding=padding,
                           batch=batch, bits=bits)
    title = (f"{filters} filters of {kernel}x{kernel}, stride {stride}, padding {padding} on a "
             f"{cost.height}x{cost.width}x{cost.channels} input")
    print_table(cost.rows(), title)
    folder = out_folder(out)
    from cnnlab.explain.figures import table_figure

    wrote([table_figure(cost.rows(), title, folder, "layer.png")])


def _pictures(images: list[str] | None, gray: bool = False) -> list[tuple[str, object]]:
    from cnnlab.explain.kernels import SAMPLES, load_picture

    if images and len(images) > 6:
        raise ConfigError(f"{len(images)} images make an unreadable figure; pass at most 6 (run again for more)")
    return [load_picture(spec, gray=gray) for spec in (images or list(SAMPLES))]


@app.command("filters")
def filters(images: list[str] = IMAGES,
            kernel: list[str] = typer.Option([], "--kernel", help="vertical, horizontal (the lecture's 7x7 lines), "
                                             "sobel-x, sobel-y, laplace, blur, sharpen, or a .npy/.txt file; "
                                             "repeatable [vertical, horizontal]"),
            padding: str = typer.Option("same", "--padding", help="same (zero padding) or valid (none)"),
            stride: int = typer.Option(1, "--stride"),
            gray: bool = typer.Option(False, "--gray", help="convert the images to one channel first"),
            out: str = OUT) -> None:
    """Convolve images with line filters or named kernels; show input, kernels and feature maps."""
    from cnnlab.explain.demos import convolve
    from cnnlab.explain.figures import filters_figure
    from cnnlab.explain.kernels import LECTURE, kernel_named

    kernels = [kernel_named(k) for k in (kernel or list(LECTURE))]
    if len(kernels) > 8:
        raise ConfigError(f"{len(kernels)} kernels make an unreadable figure; pass at most 8 --kernel")
    folder = out_folder(out)
    rows, table = [], []
    for name, image in _pictures(images, gray):
        maps = [convolve(image, k, padding=padding, stride=stride) for _, k in kernels]
        rows.append((name, image, maps))
        for (label, k), fmap in zip(kernels, maps, strict=True):
            table.append({"image": name, "input HxWxC": "x".join(map(str, image.shape)),
                          "kernel": f"{label} {k.shape[0]}x{k.shape[0]}",
                          "output HxW": f"{fmap.shape[0]}x{fmap.shape[1]}",
                          "min": float(fmap.min()), "max": float(fmap.max())})
    print_table(table, f"padding {padding}, stride {stride}")
    caption = (f"padding {padding}, stride {stride}\neach kernel runs over every\nchannel and sums them")
    wrote([filters_figure(rows, kernels, caption, folder)])


@app.command("pooling")
def pooling(images: list[str] = IMAGES,
            size: int = typer.Option(2, "--window", "--size", help="pooling window side"),
            stride: int = typer.Option(None, "--stride", help="[the window side]"),
            depth: int = typer.Option(None, "--depth", help="channels pooled together by depth-wise pooling [all]"),
            kernel: list[str] = typer.Option([], "--kernel", help="pool the feature maps of these kernels (as in "
                                             "`explain filters`) instead of the image's channels; repeatable"),
            out: str = OUT) -> None:
    """Max, average and depth-wise (across channels) pooling of images or of feature maps, sizes before and after."""
    import numpy as np

    from cnnlab.explain.demos import convolve, depth_pool, pool
    from cnnlab.explain.figures import pooling_figure
    from cnnlab.explain.kernels import kernel_named

    kernels = [kernel_named(k) for k in kernel]
    folder = out_folder(out)
    rows, table = [], []
    for name, image in _pictures(images):
        if kernels:
            image = np.stack([convolve(image, k) for _, k in kernels], axis=-1)  # (H, W, kernels)
            name = f"{name}: maps of {', '.join(label for label, _ in kernels)}"
        channels = image.shape[2]
        results = [(f"max {size}x{size}", pool(image, "max", size, stride)),
                   (f"average {size}x{size}", pool(image, "average", size, stride)),
                   (f"depth-wise max over {depth or channels}", depth_pool(image.transpose(2, 0, 1),
                                                                           depth or channels))]
        rows.append((name, image if not kernels else _unit(image), results))
        before = "x".join(map(str, image.shape))
        table += [{"input": name, "pooling": label, "before HxWxC": before,
                   "after HxWxC": f"{r.shape[1]}x{r.shape[2]}x{r.shape[0]}"} for label, r in results]
    print_table(table, f"window {size}, stride {stride or size}")
    wrote([pooling_figure(rows, f"window {size}x{size}, stride {stride or size}", folder)])


def _unit(maps):
    """Feature maps scaled to [0, 1] for display only."""
    low, high = float(maps.min()), float(maps.max())
    return (maps - low) / (high - low or 1.0)


@app.command("cam")
def cam(run: str = typer.Argument(..., help="a classify, similarity or localize run folder"),
        images: list[str] = typer.Argument(..., help="image files or folders (similarity: the first is compared "
                                           "with each of the others)"),
        top_k: int = typer.Option(3, "--top-k", help="heat maps for the k most probable classes"),
        classes: list[str] = typer.Option([], "--class", help="a class to explain instead of the top k; repeatable"),
        target: str = typer.Option("class", help="class: what drove the class score; box (localize runs): what "
                                   "drove the box (single head: the sum of its four outputs; detect: the shown "
                                   "cell's objectness)"),
        device: str = typer.Option("auto"), out: str = OUT) -> None:
    """Grad-CAM heat maps over images: where the evidence for each class (a similarity, a box) lies."""
    from cnnlab.checks import check_device, check_number
    from cnnlab.data.folders import collect_image_paths
    from cnnlab.explain.cam import run_cam
    from cnnlab.trained import load_trained

    check_number("top_k", top_k, low=1, high=20, integer=True)
    check_device(device)
    if Path(run).suffix.lower() in (".onnx", ".safetensors"):
        raise ConfigError(f"Grad-CAM needs the gradients of the run's own network: pass the run folder that "
                          f"{Path(run).name} was exported from")
    if run_task(run) == "localize":  # the localizer's own Grad-CAM, the box drawn (the room keeps its model)
        return localize_cam(run, images, target, device, out)
    if target != "class":
        raise ConfigError(f"--target {target} is for localize runs; a classify or similarity run explains its "
                          "classes (--class, --top-k)")
    folder = out_folder(out)
    paths = collect_image_paths(images)
    if len(paths) > 100:
        raise ConfigError(f"{len(paths)} images would make {len(paths)} figures; pass at most 100")
    show_figures(*run_cam(load_trained(run, device), paths, top_k=top_k, wanted=classes, folder=folder), "Grad-CAM")


def run_task(run: str) -> str | None:
    """The task of a run folder, None when `run` is not one (load_trained then says why)."""
    from cnnlab.errors import CnnlabError
    from cnnlab.runs import task_of_run

    try:
        return task_of_run(run)
    except CnnlabError:
        return None


def localize_cam(run: str, images: list[str], target: str, device: str, out: str) -> None:
    """`explain cam` of a localize run: cam-STEM-TARGET.png per image, by the localize room's Grad-CAM (found by
    the run's task, as `cnnlab export` finds each room's export)."""
    from importlib import import_module

    rows, written = import_module("cnnlab.localize.cam").explain_run(run, images, target=target, out=out,
                                                                      device=device)
    show_figures(rows, written, f"Grad-CAM ({target})")


@app.command("maps")
def maps(run: str = typer.Argument(..., help="a classify, similarity or segment run folder"),
         image: str = typer.Argument(..., help="an image file"),
         channels: int = typer.Option(8, "--channels", help="feature maps shown per stage (the most active)"),
         device: str = typer.Option("auto"), out: str = OUT) -> None:
    """Feature maps of every convolution stage for one image, the first layer's filters, receptive fields."""
    from cnnlab.checks import check_device, check_number
    from cnnlab.explain.cam import picture
    from cnnlab.explain.maps import run_maps
    from cnnlab.trained import load_trained

    check_number("channels", channels, low=1, high=32, integer=True)
    check_device(device)
    folder = out_folder(out)
    trained = load_trained(run, device)
    rows, written = run_maps(trained, picture(Path(image), trained), folder, channels)
    print_table(rows, f"{trained.name}: convolution stages (stride and receptive field in input pixels)")
    wrote(written)
