"""Seeded mutation fuzzing of keras_caffe's readers (``tests/test_fuzz.py`` runs a short,
fixed campaign; ``scripts/fuzz.py`` a long one).

Real prototxts (``../shared/zoo``, ``../shared/conformance``), caffemodels, solvers and data
records the campaign makes itself (an LMDB of Datums, HDF5 files, image lists) are mutated
(byte flips, truncations, token deletions and duplications, extreme numbers, fields swapped
between layers, duplicated layers, and protobuf-aware edits of binary messages) and handed to
the readers.  Only :class:`keras_caffe.errors.CaffeError` subclasses may leave them; each call
runs in a child process under a memory limit (``RLIMIT_DATA`` above the child's footprint
after its imports) and a time limit, so a memory bomb fails instead of swapping and a hang is
reported.  Every other outcome -- another exception, a crash, a hang, the memory limit hit, a
refusal whose message embeds a traceback -- is a failure, saved with its input, target and
mutation.

* :mod:`.mutate_text`, :mod:`.mutate_binary`: the mutations (pure functions of a
  ``random.Random``); :mod:`.data_mutations`: the data inputs' (files, records, nets);
* :mod:`.corpus`: the seed files from ../shared; :mod:`.datasets`: the clean data inputs;
* :mod:`.targets`: what each target writes and which readers it calls;
* :mod:`.child`: the loop in the child process; :mod:`.campaign`: the parent (limits,
  restarts, failures, report); :mod:`.selftest`: targets that fail on purpose;
* :mod:`.workdir`: the folders the fuzz writes into and runs targets in, never inside the
  repository.
"""

from .campaign import SELFTEST_NAMES, TARGET_NAMES, Campaign, Failure, Report, run

__all__ = ["SELFTEST_NAMES", "TARGET_NAMES", "Campaign", "Failure", "Report", "run"]
