"""Writing files safely: atomically (a crash mid-write never leaves a half file under the
final name), never over a read-only file nor changing an existing file's mode, and, for files
an input names (a net's HDF5Output), only where :class:`WritePolicy` allows.

A temporary file is named ``.<final name>.<pid>.<8 random characters>.tmp<suffix>`` beside
its final name; :func:`stale_temporaries` finds those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import stat
import tempfile
import time

from .errors import OutputError

#: How long a temporary without a pid in its name (written before names carried one) must
#: have been left unmodified to count as stale.
UNNAMED_STALE_SECONDS = 60.0


@contextlib.contextmanager
def atomic_path(path, suffix: str = "", *, replace: bool = True):
    """Yield a temporary path beside ``path``; on success it becomes ``path`` in one rename.

    ``suffix`` ends the temporary name, for writers that insist on an extension.  The new
    file gets the mode of the file it replaces (else what a plain ``open()`` gives); a
    read-only file (no write permission bit) is never replaced (:class:`OutputError`).  With
    ``replace=False`` an existing ``path`` is not replaced either, even one that appears while
    the temporary is written (FileExistsError)."""
    path = os.fspath(path)
    mode = _replaceable_mode(path)
    directory = os.path.dirname(os.path.abspath(path))
    # The OSErrors open() would raise, said of the file asked for, not of its temporary.
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder; give the name of a file to write",
                                path)
    if not os.path.isdir(directory):
        folder = os.path.dirname(path)
        if os.path.exists(folder):
            raise NotADirectoryError(errno.ENOTDIR, f"cannot write it: '{folder}' is not a "
                                     "folder", path)
        raise FileNotFoundError(errno.ENOENT, f"cannot write it: the folder '{folder}' does not "
                                "exist", path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                               suffix=".tmp" + suffix, dir=directory)
    os.close(fd)
    os.chmod(tmp, mode)  # mkstemp makes 0600
    try:
        yield tmp
        if os.path.isfile(tmp) and stat.S_IMODE(os.stat(tmp).st_mode) != mode:
            os.chmod(tmp, mode)   # the writer made the file anew
        if replace:
            _replaceable_mode(path)   # made read-only meanwhile?
            os.replace(tmp, path)
        else:
            _rename_new(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _replaceable_mode(path: str) -> int:
    """The mode a new file at ``path`` gets: the existing file's (OutputError when it is
    read-only), else what ``open()`` would give."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return default_mode(0o666)
    if stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222:
        raise OutputError(f"'{path}' is read-only (mode {stat.S_IMODE(st.st_mode):04o}); "
                          "keras-caffe never replaces a read-only file: make it writable or "
                          "write elsewhere")
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else default_mode(0o666)


def _rename_new(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` exists (checked in the same step: a hard
    link fails on an existing name; where the file system has no hard links, just before)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"'{path}' already exists") from None
    except OSError:   # no hard links on this file system
        if os.path.lexists(path):
            raise FileExistsError(f"'{path}' already exists") from None
        os.rename(tmp, path)
        return
    os.remove(tmp)


def stale_temporaries(directory, final_name: str, suffix: str = "", *,
                      unnamed_age: float = UNNAMED_STALE_SECONDS) -> list[str]:
    """Paths of the temporaries :func:`atomic_path` (with ``suffix``) left in ``directory``
    for final names that match the regular expression ``final_name`` (whole name) and whose
    writer is gone: the pid in the name is no running process of this machine, or, for a
    name without a pid (older versions), the file has not changed for ``unnamed_age``
    seconds.  Nothing else matches: no other name, no folder or link, no temporary of this
    process or of another live one."""
    pattern = re.compile(rf"\.(?:{final_name})\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp"
                         + re.escape(suffix))
    directory = os.fspath(directory) or "."
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    stale = []
    for name in names:
        match = pattern.fullmatch(name)
        path = os.path.join(directory, name)
        if match is None or not os.path.isfile(path) or os.path.islink(path):
            continue
        pid = match.group(1)
        if pid is not None:
            if not _running(int(pid)):
                stale.append(path)
        elif time.time() - os.stat(path).st_mtime >= unnamed_age:
            stale.append(path)
    return stale


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    except (OverflowError, ValueError):   # no process has such a pid
        return False
    return True


@dataclasses.dataclass
class WritePolicy:
    """Where the files that an input names (a net's HDF5Output ``file_name``) may be written.

    A relative name is taken in ``output_dir`` (default: the working directory) and, with
    ``..`` and symbolic links resolved, must stay inside it unless ``allow_outside_writes``;
    an absolute name is refused unless ``allow_outside_writes``.  An existing file is
    replaced only if this policy's writers created it (a file written over several batches)
    or with ``overwrite``; a read-only one never is.  Every file is written atomically with
    the mode of the file it replaces.  One policy is one run: the files its writers created
    are remembered in ``created``.  A relative ``output_dir`` is taken in the working
    directory of when the policy is made (a later ``chdir`` does not move it)."""

    output_dir: str | None = None
    allow_outside_writes: bool = False
    overwrite: bool = False
    created: set = dataclasses.field(default_factory=set, repr=False, compare=False)

    def __post_init__(self):
        if self.output_dir is not None:
            self.output_dir = os.path.abspath(self.output_dir)

    def place(self, name, what: str, layer: str | None = None) -> str:
        """The real path ``name`` is written to, or OutputError saying why not and how to
        opt in.  ``what`` says what names it (for the message)."""
        name = os.fspath(name)
        root = os.path.realpath(self.output_dir if self.output_dir is not None else os.getcwd())
        target = os.path.realpath(os.path.join(root, name))
        if self.allow_outside_writes:
            return target
        where = (f"the output directory '{root}'" if self.output_dir is not None
                 else f"the working directory '{root}'")
        if os.path.isabs(name):
            raise OutputError(f"{what} '{name}' is an absolute path; files a net names are "
                              f"written only under {where} unless you allow it with "
                              "--allow-outside-writes (allow_outside_writes=True)", layer)
        if os.path.commonpath([root, target]) != root:
            raise OutputError(f"{what} '{name}' resolves to '{target}', outside {where}; "
                              "files a net names are written only there unless you allow it "
                              "with --allow-outside-writes (allow_outside_writes=True)", layer)
        return target

    @contextlib.contextmanager
    def new_file(self, path: str, suffix: str = "", layer: str | None = None):
        """:func:`atomic_path` for ``path`` (from :meth:`place`) under this policy: an existing
        file not created by this run is refused without ``overwrite`` (OutputError)."""
        ours = path in self.created
        if os.path.lexists(path) and not (ours or self.overwrite):
            raise OutputError(self._exists(path), layer)
        if self.output_dir is not None and not os.path.lexists(self.output_dir):
            os.makedirs(self.output_dir)
        try:
            with atomic_path(path, suffix, replace=ours or self.overwrite) as tmp:
                yield tmp
        except FileExistsError:
            raise OutputError(self._exists(path), layer) from None
        except OutputError as exc:   # read-only
            raise OutputError(exc.reason, layer) from None
        self.created.add(path)

    @staticmethod
    def _exists(path: str) -> str:
        return (f"'{path}' already exists and this run did not create it; pass --overwrite "
                "(overwrite=True) to replace it")


def move_into_place(tmp, path, replace: bool = False) -> None:
    """Rename the finished file or folder ``tmp`` to ``path``.  An existing ``path`` is an
    error (FileExistsError) unless ``replace``: then it is renamed aside, ``tmp`` renamed in,
    and the old one deleted, so ``path`` is always either the old or the new one, never a mix
    (a folder cannot be swapped in one rename: for a moment ``path`` does not exist)."""
    import shutil

    tmp, path = os.fspath(tmp), os.fspath(path)
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if not replace:
        raise FileExistsError(f"'{path}' already exists")
    old = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".old",
                           dir=os.path.dirname(os.path.abspath(path)))
    aside = os.path.join(old, "old")
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def save_npz(path, arrays: dict) -> None:
    """``numpy.savez`` written atomically (and without numpy appending '.npz' to the name)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def default_mode(base: int) -> int:
    """``base`` less the process umask: the mode open()/mkdir() would have given."""
    mask = os.umask(0o022)
    os.umask(mask)
    return base & ~mask
