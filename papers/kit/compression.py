r"""
---
title: Compressed size
summary: "Compressed length in bits with the standard library's zlib, bz2 and LZMA: the computable upper bound
  on Kolmogorov complexity that the complexity and description-length papers use as their proxy."
---

# Compressed size

The Kolmogorov complexity $K(x)$ of a string, the length of the shortest program that prints it, is not
computable. A compressor gives a computable *upper bound*: the decompressor plus the compressed file is a
program that prints $x$, so $K(x) \le C(x) + c$, where $C(x)$ is the compressed length and $c$ the size of the
decompressor, a constant that does not depend on $x$. The papers on complexity and description length use
$C(x)$ as their stand-in for $K(x)$, each saying so on its page. This module is the one place they get it from.

Three compressors of the standard library, at their strongest settings:

| codec | method | what it models well |
|---|---|---|
| `zlib` | LZ77 + Huffman (DEFLATE), 32 KiB window | short-range repeats |
| `bz2` | Burrows–Wheeler transform, 900 KB blocks | contexts of a few characters (text) |
| `lzma` | LZ77 with a range coder and context models, large window | long-range repeats |

Each adds a small fixed overhead (headers and checksums: about 6 bytes for zlib, about 40 for bz2; LZMA is
used in its raw format, without the `.xz` container, so its overhead is a few bytes). Comparisons between
strings of similar size with the same codec cancel it; a page that reports an absolute bound says which codec.
"""
from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Callable

# Raw LZMA2 at the strongest preset: no `.xz` container, no checksum, so short strings are not dominated by
# headers. Decompression needs the same filter chain.
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda data: zlib.compress(data, 9),
    "bz2": lambda data: bz2.compress(data, 9),
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS),
}

DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": zlib.decompress,
    "bz2": bz2.decompress,
    "lzma": lambda data: lzma.decompress(data, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS),
}


def _check_codec(codec: str) -> None:
    if codec not in COMPRESSORS:
        raise ValueError(f"codec must be one of {sorted(COMPRESSORS)}, got {codec!r}")


def _check_bytes(name: str, data: object) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(data).__name__} (encode text, or use ndarray.tobytes())")
    return bytes(data)


# ## The bound
#
# `compress` returns the compressed bytes, so that a caller can check the round trip; `compressed_bits` is
# $C(x)$ in bits, $8 \times$ the compressed length in bytes.
def compress(data: bytes, codec: str = "lzma") -> bytes:
    _check_codec(codec)
    return COMPRESSORS[codec](_check_bytes("data", data))


def decompress(data: bytes, codec: str = "lzma") -> bytes:
    _check_codec(codec)
    return DECOMPRESSORS[codec](_check_bytes("data", data))


def compressed_bits(data: bytes, codec: str = "lzma") -> int:
    return 8 * len(compress(data, codec))


# Bits per input byte (per character, for ASCII text): 8 means no compression at all, and a string of random
# bytes cannot do better than 8 on average (a counting argument: fewer than $2^{8n}$ shorter strings exist).
def bits_per_byte(data: bytes, codec: str = "lzma") -> float:
    data = _check_bytes("data", data)
    if not data:
        raise ValueError("data must not be empty: bits per byte of an empty string is undefined")
    return compressed_bits(data, codec) / len(data)
