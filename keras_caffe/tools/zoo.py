"""A Caffe model-zoo folder (``models/bvlc_alexnet/``): its ``readme.md`` front matter, the
caffemodel it names and that file's sha1, as ``scripts/download_model_binary.py`` reads them.

:func:`open_folder` reads and checks the front matter (:mod:`.front_matter`); :func:`describe`
says what the model is; :func:`verify` checks a caffemodel already in the folder;
:func:`fetch` downloads it (:mod:`.download`) unless it is there with the right sha1.
Nothing here touches the network except :func:`fetch`.
"""

from __future__ import annotations

import dataclasses
import os
import re

from ..errors import CaffeError
from . import front_matter
from .download import download, file_sha1

README_NAMES = ("readme.md", "README.md")
#: Front-matter keys described first, in this order (others follow in file order).
KNOWN = ("name", "caffemodel", "caffemodel_url", "sha1", "license", "caffe_commit", "gist_id")


class ZooError(CaffeError):
    """A model-zoo folder that lacks what a step needs, or whose caffemodel is wrong."""


@dataclasses.dataclass
class ZooModel:
    """A zoo folder and its readme's front matter (``fields`` are checked strings)."""

    directory: str
    readme: str
    front: front_matter.FrontMatter

    def field(self, key: str) -> str | None:
        return self.front.get(key)

    @property
    def name(self) -> str:
        return self.field("name") or os.path.basename(os.path.normpath(self.directory))

    @property
    def caffemodel(self) -> str | None:
        """The caffemodel's path in the folder (None when the readme names none)."""
        name = self.field("caffemodel")
        return os.path.join(self.directory, name) if name else None

    @property
    def sha1(self) -> str | None:
        sha1 = self.field("sha1")
        return sha1.lower() if sha1 else None

    @property
    def prototxts(self) -> list[str]:
        return sorted(f for f in os.listdir(self.directory) if f.endswith(".prototxt")
                      and os.path.isfile(os.path.join(self.directory, f)))

    def where(self, key: str) -> str:
        """``readme.md:LINE`` of ``key``, for messages."""
        return f"{self.readme}:{self.front.lines[key]}" if key in self.front.lines else self.readme

    def require(self, key: str, purpose: str) -> str:
        value = self.field(key)
        if not value:
            raise ZooError(f"{self.readme}: no '{key}:' in the front matter, needed to {purpose}")
        return value

    def net(self, net: str = "deploy.prototxt") -> str:
        """``net`` in the folder if it is there, else ``net`` as given."""
        inside = os.path.join(self.directory, net)
        for candidate in (inside, net):
            if os.path.isfile(candidate):
                return candidate
        raise ZooError(f"{inside}: no such net prototxt (the folder has "
                       f"{', '.join(self.prototxts) or 'no .prototxt files'})")


def open_folder(directory) -> ZooModel:
    """Read a zoo folder's ``readme.md`` front matter and check the fields we use: scalars,
    ``caffemodel`` a plain file name in the folder, ``sha1`` 40 hex digits."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ZooError(f"{directory}: not a directory (give a model-zoo folder holding "
                       "readme.md)")
    readme = next((os.path.join(directory, n) for n in README_NAMES
                   if os.path.isfile(os.path.join(directory, n))), None)
    if readme is None:
        raise ZooError(f"{directory}: no readme.md (a zoo folder's readme.md names the "
                       "caffemodel, its URL and sha1)")
    front = front_matter.read(readme)
    for key in KNOWN:
        if isinstance(front.get(key), list):
            raise front.error(key, f"'{key}' must be one value, not a list")
    name = front.get("caffemodel")
    if name is not None and (name in (".", "..") or re.search(r"[/\\\0]", name)
                             or name.startswith(".")):
        raise front.error("caffemodel", f"caffemodel {name!r} must be a file name in the "
                          "folder (no path, not hidden)")
    sha1 = front.get("sha1")
    if sha1 is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", sha1):
        raise front.error("sha1", f"sha1 {sha1!r} is not 40 hexadecimal digits")
    return ZooModel(directory, readme, front)


def describe(model: ZooModel) -> str:
    """What the model is: its name, the readme's fields, the caffemodel's state, the
    prototxts in the folder."""
    lines = [f"{model.name}  ({model.directory})"]
    keys = [k for k in KNOWN[1:] if k in model.front.fields]
    keys += [k for k in model.front.fields if k not in KNOWN]
    for key in keys:
        value = model.field(key)
        text = ", ".join(value) if isinstance(value, list) else ("" if value is None else value)
        if key == "caffemodel" and model.caffemodel:
            path = model.caffemodel
            text += (f" ({os.path.getsize(path):,} bytes)" if os.path.isfile(path)
                     else " (not downloaded)")
        lines.append(f"  {key + ':':<15} {text}".rstrip())
    if "caffemodel" not in model.front.fields:
        lines.append(f"  {'caffemodel:':<15} (the readme names none)")
    lines.append(f"  {'prototxts:':<15} {', '.join(model.prototxts) or '(none)'}")
    return "\n".join(lines)


def verify(model: ZooModel) -> str:
    """Check the caffemodel in the folder against the readme's sha1 (streamed); a mismatch
    raises :class:`ZooError`.  Returns the verdict."""
    path = model.caffemodel
    if path is None:
        return "no caffemodel to check (the readme names none)"
    if not os.path.isfile(path):
        return f"{path}: not downloaded (run with --download to fetch it)"
    if model.sha1 is None:
        return f"{path}: present; the readme gives no sha1 to check it against"
    got = file_sha1(path)
    if got != model.sha1:
        raise ZooError(f"{path}: sha1 mismatch: the file has {got}, {model.where('sha1')} "
                       f"says {model.sha1} (run with --download to fetch it again)")
    return f"{path}: sha1 OK ({got})"


def fetch(model: ZooModel, *, timeout: float = 30.0, stream=None) -> str:
    """Download the caffemodel unless the folder has it with the right sha1 (as Caffe's
    downloader does); the file appears only if its sha1 matches.  Returns what happened."""
    url = model.require("caffemodel_url", "download the caffemodel")
    model.require("caffemodel", "download the caffemodel")
    sha1 = model.require("sha1", "check the downloaded caffemodel")
    path = model.caffemodel
    if os.path.isdir(path):
        raise ZooError(f"{path}: a directory is where the caffemodel should go")
    if os.path.isfile(path) and file_sha1(path) == model.sha1:
        return f"{path}: already present, sha1 OK ({model.sha1}); not downloaded again"
    got = download(url, path, sha1, timeout=timeout, stream=stream)
    resumed = f", resumed after {got.resumed_from:,} bytes" if got.resumed_from else ""
    return f"{path}: downloaded {got.size:,} bytes from {url}{resumed}, sha1 OK ({got.sha1})"


def weights(model: ZooModel) -> str:
    """The caffemodel's path, for converting (it must be in the folder)."""
    model.require("caffemodel", "convert the net")
    if not os.path.isfile(model.caffemodel):
        raise ZooError(f"{model.caffemodel}: not downloaded; run with --download first")
    return model.caffemodel
