"""Argument checks shared by effnn modules: bad input fails early with the argument's name."""
from __future__ import annotations


def positive_int(value, name: str) -> int:
    """``value`` if it is an int >= 1 (bools excluded); TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value
