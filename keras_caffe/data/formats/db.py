"""Read-only access to Caffe's key-value databases (LMDB, LevelDB) in key order.

Caffe's Data layer walks a database cursor in key order (byte-wise: ``rec_10`` sorts before
``rec_2``) and restarts at the first key when it reaches the end.  :meth:`KeyValueDB.records`
gives that endless walk from any position, or every ``step``-th record of it (a worker's share
of the walk when several read one database, see ``BatchSource.shard``).

* LMDB is opened read-only **without a lock file** (``lock=False``), so a database in a
  read-only or shared folder is never touched; nothing may write to it while it is read.
* LevelDB (through ``plyvel``, the ``leveldb`` extra) must be able to write its ``LOCK`` and
  ``LOG`` files into the folder, and one process can open a database only once.
"""

from __future__ import annotations

import abc
import itertools
import os
import threading
import weakref
from typing import Iterator

from ...errors import NetError
from ...proto import caffe_pb2

__all__ = ["KeyValueDB", "LMDB", "LevelDB", "open_db"]


class KeyValueDB(abc.ABC):
    backend = ""

    def __init__(self, path: str):
        self.path = os.fspath(path)

    @abc.abstractmethod
    def __len__(self) -> int:
        ...

    @abc.abstractmethod
    def _scan(self, start: int = 0, keys_only: bool = False, step: int = 1) -> Iterator:
        """One pass in key order from record ``start``: ``(key, value)`` pairs, or keys, of
        records ``start``, ``start + step``, ... (the records between are not read)."""

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        """One pass over every ``(key, value)`` in key order (no wrap-around)."""
        return self._scan(0)

    def records(self, start: int = 0, step: int = 1) -> Iterator[tuple[int, bytes, bytes]]:
        """``(position, key, value)`` forever: the records at offsets ``start``,
        ``start + step``, ... of the endless walk (offset ``o`` is record ``o % len(self)``:
        the walk wraps to the first record after the last)."""
        offset = start
        while True:
            count = 0
            for key, value in self._scan(offset % len(self), step=step):
                yield offset % len(self), key, value
                offset += step
                count += 1
            if count == 0:
                raise NetError(f"{self.backend} database '{self.path}' changed while being "
                               "read")

    def keys(self) -> list[bytes]:
        return list(self._scan(keys_only=True))

    def get(self, position: int) -> tuple[bytes, bytes]:
        """Key and value of the record at a position (walks the keys; for diagnostics)."""
        for key, value in self._scan(position):
            return key, value
        raise IndexError(position)

    def describe(self, position: int, key: bytes) -> str:
        return f"{self.path}: record {position} (key {key.decode('utf-8', 'backslashreplace')!r})"

    def close(self) -> None:
        pass


class _Shared:
    """One open handle per database and process (neither LMDB nor LevelDB lets a process open
    a database twice); closed when the last reader using it is gone."""

    _open: "weakref.WeakValueDictionary[tuple, _Shared]" = weakref.WeakValueDictionary()
    _lock = threading.Lock()

    def __init__(self, handle, close):
        self.handle, self._close = handle, close

    def __del__(self):
        try:
            self._close(self.handle)
        except Exception:  # noqa: BLE001 - closing at exit must not raise
            pass

    @classmethod
    def get(cls, kind: str, path: str, opener):
        key = (kind, os.path.realpath(path))
        with cls._lock:
            shared = cls._open.get(key)
            if shared is None:
                shared = cls(*opener())
                cls._open[key] = shared
            return shared


class LMDB(KeyValueDB):
    backend = "LMDB"

    def __init__(self, path, allow_empty=False):
        super().__init__(path)
        import lmdb

        if not os.path.exists(self.path):
            raise NetError(f"LMDB database '{self.path}' not found (Caffe opens data_param.source "
                           f"relative to the working directory, here {os.getcwd()})")
        subdir = os.path.isdir(self.path)
        if subdir and not os.path.isfile(os.path.join(self.path, "data.mdb")):
            raise NetError(f"'{self.path}' is not an LMDB database (no data.mdb in it)")
        def opener():
            env = lmdb.open(self.path, readonly=True, lock=False, subdir=subdir,
                            readahead=False, max_readers=512)
            return env, lmdb.Environment.close

        try:
            self._shared = _Shared.get("lmdb", self.path, opener)
        except lmdb.Error as exc:
            raise NetError(f"cannot open LMDB database '{self.path}': {exc}") from None
        self.env = self._shared.handle
        self._count = self.env.stat()["entries"]
        if self._count == 0 and not allow_empty:
            raise NetError(f"LMDB database '{self.path}' is empty")

    def __len__(self):
        return self._count

    def _scan(self, start=0, keys_only=False, step=1):
        with self.env.begin(buffers=False) as txn:
            cursor = txn.cursor()
            if not cursor.first():
                return
            for _ in range(start):   # moving the cursor copies nothing
                if not cursor.next():
                    return
            if step == 1:
                yield from cursor.iternext(keys=True, values=not keys_only)
                return
            while True:
                yield cursor.key() if keys_only else cursor.item()
                for _ in range(step):
                    if not cursor.next():
                        return

    def close(self):
        """Release this reader's use of the environment (closed with its last user)."""
        self._shared = None


class LevelDB(KeyValueDB):
    backend = "LevelDB"

    def __init__(self, path, allow_empty=False):
        super().__init__(path)
        try:
            import plyvel
        except ImportError:
            raise NetError("reading LevelDB databases needs the 'plyvel' package: "
                           "pip install 'keras-caffe[leveldb]' (or pip install plyvel)") from None
        if not os.path.isdir(self.path):
            raise NetError(f"LevelDB database '{self.path}' not found (Caffe opens "
                           f"data_param.source relative to the working directory, here "
                           f"{os.getcwd()})")
        try:
            self._shared = _Shared.get(
                "leveldb", self.path,
                lambda: (plyvel.DB(self.path, create_if_missing=False), plyvel.DB.close))
        except (plyvel.Error, OSError) as exc:
            hint = ""
            if not os.access(self.path, os.W_OK):
                hint = " (LevelDB writes LOCK/LOG files into the folder: read a writable copy)"
            raise NetError(f"cannot open LevelDB database '{self.path}': {exc}{hint}") from None
        self.db = self._shared.handle
        self._count = sum(1 for _ in self.db.iterator(include_value=False))
        if self._count == 0 and not allow_empty:
            raise NetError(f"LevelDB database '{self.path}' is empty")

    def __len__(self):
        return self._count

    def _scan(self, start=0, keys_only=False, step=1):
        with self.db.snapshot() as snap:
            first = None
            if start:
                first = next(itertools.islice(snap.iterator(include_value=False), start, None),
                             None)
                if first is None:
                    return
            yield from itertools.islice(snap.iterator(start=first, include_value=not keys_only),
                                        0, None, step)

    def close(self):
        self._shared = None


def open_db(path, backend="lmdb", allow_empty: bool = False) -> KeyValueDB:
    """Open a database; ``backend`` is ``"lmdb"``/``"leveldb"`` or DataParameter.DB.  A data
    layer cannot read an empty one (an error); tools may ask for ``allow_empty``."""
    if not isinstance(backend, str):
        backend = caffe_pb2.DataParameter.DB.Name(backend)
    kind = backend.lower()
    if kind == "lmdb":
        return LMDB(path, allow_empty)
    if kind == "leveldb":
        return LevelDB(path, allow_empty)
    raise ValueError(f"backend must be 'lmdb' or 'leveldb', got {backend!r}")
