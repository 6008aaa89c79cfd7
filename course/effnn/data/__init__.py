"""Datasets of the course: embedded (offline) by default, real ones behind ``EFFNN_DATA=real``.

- :func:`digits` / :func:`digits_loaders`: scikit-learn's bundled 8x8 digits, fixed seeded split.
- :class:`Portraits` / :func:`portrait_split`: procedural person-silhouette segmentation.
- :func:`classification` / :func:`segmentation`: pick embedded or real data by the one setting.
"""
from .digits import DIGITS_SPLIT_SIZES, digits, digits_loaders
from .portraits import Portraits, portrait_split, render_portrait
from .select import classification, segmentation

__all__ = [
    "DIGITS_SPLIT_SIZES", "digits", "digits_loaders",
    "Portraits", "portrait_split", "render_portrait",
    "classification", "segmentation",
]
