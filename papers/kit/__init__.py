"""
---
title: The experiment kit
summary: "What every paper's experiment shares: running and saving, the training loop, data sets and tasks."
---

# The experiment kit

Shared helpers live here once, not pasted into each paper. A paper imports what it needs:

* [`experiment.py`](experiment.py): the command line, seeding, results files and their code fingerprint;
* [`training.py`](training.py): the training loop with labml progress and metric logging;
* [`data.py`](data.py): Shakespeare as characters, scikit-learn's digits;
* [`tasks.py`](tasks.py): synthetic sequence tasks;
* [`compression.py`](compression.py): compressed length in bits (zlib, bz2, LZMA), the computable stand-in for
  Kolmogorov complexity;
* [`checks.py`](checks.py): the input checks at every module's boundary, with errors that name the argument.

Files in `papers/kit/` are helpers, not papers: they have no tracker line of their own.
"""
