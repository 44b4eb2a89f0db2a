"""pycaffe's process-wide settings: the mode (CPU/GPU), the device and the random seed."""

from __future__ import annotations

import dataclasses
import logging

log = logging.getLogger("keras_caffe.pycaffe")


@dataclasses.dataclass
class _Settings:
    mode: str = "cpu"
    device: int = 0
    seed: int | None = None


settings = _Settings()


def set_mode_cpu() -> None:
    """Run on the CPU (TensorFlow's GPUs are hidden from then on in this process)."""
    import tensorflow as tf

    settings.mode = "cpu"
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:   # devices already in use: TensorFlow keeps its choice
        log.warning("set_mode_cpu(): TensorFlow has already initialised its devices; "
                    "wrap work in tf.device('/CPU:0') to keep it on the CPU")


def set_mode_gpu() -> None:
    """Run on the GPU set by :func:`set_device` (the CPU when TensorFlow sees none)."""
    import tensorflow as tf

    settings.mode = "gpu"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        log.warning("set_mode_gpu(): no GPU is visible to TensorFlow; running on the CPU")
        return
    try:
        tf.config.set_visible_devices([gpus[min(settings.device, len(gpus) - 1)]], "GPU")
    except RuntimeError:
        log.warning("set_mode_gpu(): TensorFlow has already initialised its devices")


def set_device(device_id: int) -> None:
    settings.device = int(device_id)


def set_random_seed(seed: int) -> None:
    """Seed what later nets draw: Caffe's fillers, data layers' crops and mirrors, dropout."""
    import keras

    settings.seed = int(seed)
    keras.utils.set_random_seed(int(seed))
