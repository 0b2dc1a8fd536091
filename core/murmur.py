"""MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes, as scikit-learn's
`murmurhash3_32(text, seed=0, positive=True)` computes it: the personal model's hashed
features were stored under these indices, so the function must not change. A test checks
it against scikit-learn's where the `model` extra is installed."""

from __future__ import annotations

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_MASK = 0xFFFFFFFF


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def murmurhash3_32(text: str, seed: int = 0) -> int:
    """The unsigned 32-bit hash of `text`."""
    data = text.encode("utf-8")
    h = seed & _MASK
    blocks = len(data) // 4
    for i in range(blocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = _rotl((k * _C1) & _MASK, 15) * _C2 & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    tail = data[4 * blocks :]
    if tail:
        k = int.from_bytes(tail, "little")
        k = _rotl((k * _C1) & _MASK, 15) * _C2 & _MASK
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)
