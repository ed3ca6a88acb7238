"""Tests for the kit's offline data sets, tasks and vision helpers."""
import pytest
import torch

from papers.kit import data, tasks, vision


def test_shakespeare_is_offline_and_split_without_overlap():
    corpus = data.shakespeare(max_chars=200_000)
    assert len(corpus.train) == 180_000 and len(corpus.valid) == 20_000
    text = data.shakespeare_text()
    assert "To be, or not to be" in text
    assert corpus.decode(corpus.train[:40]) == text[:40]


def test_char_corpus_round_trip_and_batches():
    corpus = data.CharCorpus.from_text("abcabcabcabc" * 10, valid_fraction=0.25)
    assert corpus.vocab == ["a", "b", "c"]
    assert corpus.decode(corpus.encode("cab")) == "cab"
    x, y = corpus.batch("train", 4, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 5)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_char_corpus_bad_input():
    corpus = data.CharCorpus.from_text("abcd" * 20)
    with pytest.raises(ValueError, match=r"characters not in the vocabulary: \['z'\]"):
        corpus.encode("abz")
    with pytest.raises(ValueError, match="split must be 'train' or 'valid'"):
        corpus.batch("test", 2, 3)
    with pytest.raises(ValueError, match="longer than the valid split"):
        corpus.batch("valid", 2, 100)
    with pytest.raises(ValueError, match="valid_fraction"):
        data.CharCorpus.from_text("abc", valid_fraction=1.0)


def test_digits_splits_are_disjoint_and_cover_the_set():
    digits = data.digits()
    sizes = [len(s.y) for s in (digits.train, digits.valid, digits.test)]
    assert sum(sizes) == 1797
    assert digits.train.x.shape[1:] == (1, 8, 8)
    assert 0.0 <= digits.train.x.min() and digits.train.x.max() <= 1.0
    assert all(set(s.y.tolist()) == set(range(10)) for s in (digits.train, digits.valid, digits.test))
    assert torch.equal(data.digits().test.x, digits.test.x)  # the split does not depend on global seeds
    with pytest.raises(ValueError, match="bad split fractions"):
        data.digits(valid_fraction=0.5, test_fraction=0.5)


def test_sequence_tasks():
    generator = torch.Generator().manual_seed(0)
    source, target = tasks.reversal_batch(3, 5, 4, generator)
    assert torch.equal(target, source.flip(1))
    assert source.min() >= tasks.RESERVED and source.max() < tasks.RESERVED + 4
    source, target = tasks.copy_batch(2, 3, 4, generator)
    assert torch.equal(source, target)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        tasks.random_symbols(2, 0, 4, generator)


def test_random_shift_moves_whole_images_within_bounds():
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(50, 1, 6, 6)
    x[:, :, 2:4, 2:4] = 1.0
    shifted = vision.random_shift(x, 1, generator)
    assert shifted.shape == x.shape
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    rows = shifted[:, 0].sum(dim=2).nonzero()[:, 1]
    assert set(rows.tolist()) <= {1, 2, 3, 4}
    assert torch.equal(vision.random_shift(x, 0, generator), x)
    with pytest.raises(ValueError, match="max_shift must be a non-negative integer"):
        vision.random_shift(x, -1, generator)


def test_resize_checks_shape():
    digits = data.digits()
    assert vision.resize(digits.valid, 16).x.shape[-2:] == (16, 16)
    with pytest.raises(ValueError, match=r"split.x must have shape \[N, C, H, W\]"):
        vision.resize(data.Split(digits.valid.x[:, 0], digits.valid.y), 16)
