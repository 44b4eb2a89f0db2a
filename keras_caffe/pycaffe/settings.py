"""pycaffe's process-wide settings: the mode (CPU/GPU), the device, the random seed, and where
the files a net names (HDF5Output) may be written."""

from __future__ import annotations

import dataclasses
import logging

from ..fileio import WritePolicy

log = logging.getLogger("keras_caffe.pycaffe")


@dataclasses.dataclass
class _Settings:
    mode: str = "cpu"
    device: int = 0
    seed: int | None = None
    #: Where nets' HDF5Output layers write; one policy for the process (a script's "run").
    writes: WritePolicy = dataclasses.field(default_factory=WritePolicy)


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


def set_output_policy(output_dir=None, allow_outside_writes: bool = False,
                      overwrite: bool = False) -> None:
    """Where the HDF5Output layers of the nets made from now on write (keras-caffe's own
    setting; pycaffe has none): file names are taken in ``output_dir`` (default: the working
    directory) and must stay inside it unless ``allow_outside_writes``; an existing file that
    this process did not write is replaced only with ``overwrite`` (a read-only one never; the
    files its nets wrote stay its own).  Real Caffe writes wherever ``file_name`` points.
    ``keras-caffe python`` sets it from its ``--output-dir``, ``--allow-outside-writes`` and
    ``--overwrite``."""
    settings.writes = WritePolicy(output_dir=output_dir,
                                  allow_outside_writes=bool(allow_outside_writes),
                                  overwrite=bool(overwrite), created=settings.writes.created)
