"""Targets that fail on purpose, one per kind of failure, so that the suite proves the
campaign reports each with its input (``tests/test_fuzz.py``).  They import nothing of
keras_caffe (a child running only these starts in a fraction of a second); their refusals
are :class:`Refusal`, which plays CaffeError's part."""

from __future__ import annotations

import ctypes
import signal
import time


class Refusal(Exception):
    """The error these targets may raise (as keras_caffe's readers may raise CaffeError)."""


ALLOWED = (Refusal,)


class _SelfTest:
    name = ""

    def make(self, rng, case):
        value = rng.random()
        (case / "input.txt").write_text(f"{value!r}\n")
        return f"value {value:.3f}"

    def clean(self, case):
        (case / "input.txt").write_text("0.0\n")

    def run(self, case):
        value = float((case / "input.txt").read_text())
        if value == 0.0:      # the warm-up input
            return None
        return self.fail(value)


class Raise(_SelfTest):
    """A ValueError on half the inputs, a refusal (allowed) on the other half."""

    name = "_raise"

    def fail(self, value):
        if value < 0.5:
            raise ValueError(f"selftest value {value:.3f}")
        raise Refusal("a refusal, which is allowed")


class Hang(_SelfTest):
    """A Python loop that never ends (the child's SIGALRM interrupts it)."""

    name = "_hang"

    def fail(self, value):
        while True:
            pass


class HangInC(_SelfTest):
    """A wait in C with SIGALRM blocked (only the parent's watchdog ends it)."""

    name = "_c_hang"

    def fail(self, value):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)


class Crash(_SelfTest):
    """A segmentation fault."""

    name = "_crash"

    def fail(self, value):
        ctypes.string_at(0)


class Bomb(_SelfTest):
    """40 GB asked for at once (the child's RLIMIT_DATA refuses it: a MemoryError)."""

    name = "_bomb"

    def fail(self, value):
        return bytearray(40 << 30)


SELFTEST = {t.name: t for t in (Raise(), Hang(), HangInC(), Crash(), Bomb())}
