"""The Keras peer of bench.speed (issue 29): the seed's own networks as its notebooks build them in Keras
(tensorflow-cpu), trained with `model.fit` on the same uint8 arrays, batch, optimizer and epochs as the other
peers. Optional: without TensorFlow every function answers {"skipped": why} (pip install -e ".[keras]").

It trains in a process of its own (`in_subprocess`, same script run): TensorFlow's and PyTorch's CPU runtimes in one
process crash once both have trained (measured: a segmentation fault at PyTorch's first step after model.fit).

baseline-cnn: Conv 32/64/64 3x3 valid + ReLU with 2x2 max pooling between, Flatten, Dense 64, Dense 10 (122,570
parameters on 32x32x3, as cnnlab's). densenet-seed: four dense blocks of 12 BN-ReLU-Conv3x3 layers, growth 12,
compression 0.5, SpatialDropout 0.2, L2 1e-4 on the convolutions (906,610 Keras parameters, which count the
BatchNorm statistics; 889,996 trainable, as cnnlab's).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def available() -> str | None:
    """None when TensorFlow imports, else the reason it does not."""
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:
        return f"tensorflow is not installed ({exc}); pip install -e \".[keras]\""
    return None


def in_subprocess(model: str, data_cfg: dict, epochs: int, batch: int = 32) -> dict:
    """run_keras in a child process on the data set `data_cfg` (DataConfig's fields); its JSON row."""
    import json
    import subprocess
    import sys

    why = available_elsewhere()
    if why:
        return {"skipped": why}
    done = subprocess.run([sys.executable, "-m", "bench.keras_peer", model, json.dumps(data_cfg), str(epochs),
                           str(batch)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if done.returncode:
        return {"skipped": f"the Keras peer failed: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def available_elsewhere() -> str | None:
    """available(), asked without importing TensorFlow into this process."""
    from importlib.util import find_spec

    return None if find_spec("tensorflow") else 'tensorflow is not installed; pip install -e ".[keras]"'


def baseline_cnn(keras, shape: tuple[int, int, int], classes: int):
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape), layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(classes)])


def densenet_seed(keras, shape: tuple[int, int, int], classes: int, blocks: int = 4, depth: int = 12,
                  growth: int = 12, filters: int = 24, compression: float = 0.5, dropout: float = 0.2):
    layers, l2 = keras.layers, keras.regularizers.l2(1e-4)
    inputs = keras.Input(shape)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=l2)(
        layers.Rescaling(1 / 255)(inputs))
    channels = filters
    for b in range(blocks):
        for _ in range(depth):
            y = layers.ReLU()(layers.BatchNormalization()(x))
            y = layers.Conv2D(growth, 3, padding="same", use_bias=False, kernel_regularizer=l2)(y)
            x = layers.Concatenate()([x, layers.SpatialDropout2D(dropout)(y)])
            channels += growth
        if b < blocks - 1:
            channels = int(channels * compression)
            y = layers.ReLU()(layers.BatchNormalization()(x))
            y = layers.Conv2D(channels, 1, use_bias=False, kernel_regularizer=l2)(y)
            x = layers.AveragePooling2D(2)(layers.SpatialDropout2D(dropout)(y))
    x = layers.GlobalAveragePooling2D()(layers.ReLU()(layers.BatchNormalization()(x)))
    return keras.Model(inputs, layers.Dense(classes)(x))


BUILDERS = {"baseline-cnn": baseline_cnn, "densenet-seed": densenet_seed}


def run_keras(model: str, data, epochs: int, batch: int = 32) -> dict:
    """Train `model` with model.fit (Adam 1e-3, `batch`) on `data` (cnnlab DataSplits: train and test as uint8 NCHW
    tensors); training images a second (TensorFlow's own threads, all cores) and test accuracy."""
    why = available()
    if why or model not in BUILDERS:
        return {"skipped": why or f"no Keras build of {model}"}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.random.set_seed(0)
    x = data.train.images.permute(0, 2, 3, 1).numpy()  # NHWC uint8, as the notebooks feed it
    y = data.train.labels.numpy().astype(np.int64)
    net = BUILDERS[model](keras, x.shape[1:], len(data.classes))
    net.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds += time.perf_counter() - self.start

    timer = Timer()
    net.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    test_x = data.test.images.permute(0, 2, 3, 1).numpy()
    _, acc = net.evaluate(test_x, data.test.labels.numpy().astype(np.int64), batch_size=256, verbose=0)
    return {"train_seconds": timer.seconds, "images_per_second": len(x) * epochs / timer.seconds,
            "test_acc": float(acc), "parameters": int(net.count_params()), "tensorflow": tf.__version__}


if __name__ == "__main__":
    import json
    import sys

    from cnnlab.data.datasets import DataConfig, load_dataset

    name, cfg, epochs, batch = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(run_keras(name, load_dataset(DataConfig(**cfg)), epochs, batch)))
