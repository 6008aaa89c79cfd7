"""The shape every effnn experiment shares, in open_lth's Hparams-and-runner style.

- a typed config dataclass (``SpeedupConfig``, ``LTHConfig``, ``HanConfig``...) that validates itself,
  with a ``fast()`` classmethod: the preset fast mode runs (``EFFNN_FAST=1``, same code path);
- a runner ``run_<name>(config, data) -> <Name>Result``;
- a result dataclass (:class:`Result`) whose fields are the measured numbers; it also answers
  ``result["key"]`` like the dicts older code reads, so ``res["acc_dense"]`` and ``res.acc_dense``
  are the same number.

>>> from dataclasses import dataclass
>>> @dataclass
... class Toy(Result):
...     acc: float
>>> Toy(0.9)["acc"], Toy(0.9).as_dict()
(0.9, {'acc': 0.9})
"""
from __future__ import annotations

import dataclasses


__all__ = ["Result"]


class Result:
    """Mixin for result dataclasses: attribute access, plus ``res[key]``, ``keys()`` and ``as_dict()``.

    So code written for the old dict results keeps running on the typed ones.

    >>> @dataclasses.dataclass
    ... class Toy(Result):
    ...     acc: float
    ...     macs: int
    >>> r = Toy(acc=0.9, macs=100); r.acc, r["macs"], list(r), r.as_dict()
    (0.9, 100, ['acc', 'macs'], {'acc': 0.9, 'macs': 100})
    """

    def __getitem__(self, key: str):
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        """The field names, like a dict's keys."""
        return [f.name for f in dataclasses.fields(self)]

    def as_dict(self) -> dict:
        """A shallow ``{field: value}`` dict (models and nested dicts are not copied)."""
        return {k: getattr(self, k) for k in self.keys()}

