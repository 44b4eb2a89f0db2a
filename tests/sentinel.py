"""What a folder holds, to show that a run left it untouched: every entry under it (the folder
included) with its mode, size, modification time and, for files, a digest of the bytes."""

from __future__ import annotations

import hashlib
import os


def tree_state(root) -> dict:
    """``{relative path: (mode, size, mtime_ns, sha1 or link target)}`` for ``root`` and
    everything under it (symbolic links are not followed)."""
    root = os.fspath(root)
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in ["."] + sorted(dirs) + sorted(files):
            path = os.path.normpath(os.path.join(folder, name))
            st = os.lstat(path)
            if os.path.islink(path):
                content = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    content = hashlib.sha1(f.read()).hexdigest()
            else:
                content = None
            state[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, content)
    return state


def make_sentinel(root) -> dict:
    """A folder with a writable file, a read-only file and a subfolder; returns its state."""
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    for name, mode in (("keep.h5", 0o644), ("read_only.h5", 0o444), ("sub/x.h5", 0o600)):
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(f"sentinel {name}\n".encode())
        os.chmod(path, mode)
    return tree_state(root)
