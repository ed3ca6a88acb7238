"""Tests for the kit's compressed-size bound: round trips, the order of known structures, and bad input."""
import os

import pytest

from papers.kit import compression
from papers.kit.compression import bits_per_byte, compress, compressed_bits, decompress


@pytest.mark.parametrize("codec", sorted(compression.COMPRESSORS))
def test_round_trip(codec: str) -> None:
    data = b"the quick brown fox " * 50 + os.urandom(100)
    assert decompress(compress(data, codec), codec) == data


# Random bytes do not compress (the bound is at least 8 bits per byte, less the header); a constant string and
# a repeated phrase compress far below that, the constant one furthest.
@pytest.mark.parametrize("codec", sorted(compression.COMPRESSORS))
def test_known_structures_order_as_they_must(codec: str) -> None:
    n = 20_000
    random_bits = bits_per_byte(os.urandom(n), codec)
    repeated = bits_per_byte((b"abcdefghij" * n)[:n], codec)
    constant = bits_per_byte(bytes(n), codec)
    assert random_bits > 7.9
    assert repeated < 0.5 and constant < 0.5
    assert compressed_bits(bytes(n), codec) <= compressed_bits((b"abcdefghij" * n)[:n], codec)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="codec must be one of"):
        compressed_bits(b"abc", "gzip")
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        compressed_bits("abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data must not be empty"):
        bits_per_byte(b"")
