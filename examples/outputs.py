"""The examples' output files: written atomically, and plotted with matplotlib when it is
installed (``pip install 'keras-caffe[plot]'``).  No Caffe here.

Every file goes to a temporary name beside its final one and is renamed over it when
complete, so running an example again into the same ``--out`` folder never leaves (or
reads) a half-written prototxt, HDF5 file or plot.
"""

# the package's atomic writer (temp name beside the file, one rename), not Caffe
from keras_caffe.fileio import atomic_path

PLOT_EXTRA = "pip install 'keras-caffe[plot]'"


def write_text(path, text):
    """Write ``text`` (a prototxt, a list file) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return path


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend, or None (with a note saying the
    plot is skipped) when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        print(f"plot skipped: matplotlib is not installed ({PLOT_EXTRA})")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Save a matplotlib figure as a PNG at ``path`` atomically, close it, say where."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    print(f"plot: {path}")
    return path
