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


def refused(argv, folder, capsys) -> str:
    """Run ``keras-caffe ARGV`` (in-process) and assert it is refused the way bad input must
    be: exit status 1, exactly one ``keras-caffe CMD: error: ...`` line on stderr and nothing
    after it (log lines may come before), no traceback, and ``folder`` (files, modes, times)
    exactly as before.  Returns the message (what follows ``error: ``)."""
    from keras_caffe import cli

    capsys.readouterr()
    before = tree_state(folder)
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    prefix = f"keras-caffe {argv[0]}: error: "
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and err.splitlines()[-1] == lines[0], err   # one line, said last
    assert tree_state(folder) == before
    return lines[0].removeprefix(prefix)
