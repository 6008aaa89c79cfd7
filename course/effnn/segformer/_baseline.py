"""The trained baseline: its architecture, its recipe, and loading its checkpoint."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import config
from .. import validate as V
from .._deprecate import warn_renamed

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BASELINE_CHECKPOINT = ASSETS / "segformer_portraits.pt"
BASELINE_META = ASSETS / "segformer_portraits.json"

#: The baseline architecture: MiT-b0's depths, strides and heads at half its width. Half width
#: passes 0.90 val mIoU on portraits in a CPU budget where the full b0 width still underfits.
BASELINE = dict(hidden_sizes=[16, 32, 80, 128], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=128)


@dataclass
class BaselineRecipe:
    """How the committed baseline was trained: all of it is recorded next to the checkpoint.

    :meth:`fast` is the fast-mode preset (4 steps on 64 images); ``recipe.fast_steps`` is the
    deprecated spelling of ``BaselineRecipe.fast().steps``.

    Args:
        size: the training image side, >= 1.
        n_train: training images, >= 1.
        n_val: validation images, >= 1.
        steps: optimizer steps, >= 1.
        batch_size: >= 1.
        lr: the peak learning rate, > 0.
        weight_decay: >= 0.
        warmup: warm-up steps, >= 0.
        clip: the gradient-norm clip, > 0.
        seed: seeds the data and the model.
        threads: torch threads for training, >= 1.
        eval_every: steps between validations, >= 1.
        architecture: the :func:`effnn.models.segformer_config` overrides (default :data:`BASELINE`).

    >>> BaselineRecipe().steps, BaselineRecipe.fast().steps
    (1800, 4)
    """
    size: int = 96
    n_train: int = 6000
    n_val: int = 400
    steps: int = 1800
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    seed: int = 0
    threads: int = 2
    eval_every: int = 300
    architecture: dict = field(default_factory=lambda: dict(BASELINE))

    def __post_init__(self):
        for name in ("size", "n_train", "n_val", "steps", "batch_size", "threads", "eval_every"):
            V.positive_int(getattr(self, name), name)
        V.integer(self.warmup, "warmup", low=0)
        V.number(self.lr, "lr", low=0, low_open=True)
        V.number(self.weight_decay, "weight_decay", low=0)
        V.number(self.clip, "clip", low=0, low_open=True)
        V.integer(self.seed, "seed")
        V.mapping(self.architecture, "architecture")

    @classmethod
    def fast(cls, **overrides) -> "BaselineRecipe":
        """The fast-mode preset: 4 steps on 64 training and 32 validation images."""
        return cls(**{"steps": 4, "n_train": 64, "n_val": 32, "eval_every": 4, **overrides})

    @property
    def fast_steps(self) -> int:
        """Deprecated: ``BaselineRecipe.fast().steps``."""
        warn_renamed("BaselineRecipe", "fast_steps", "BaselineRecipe.fast().steps", kind="attribute",
                     note="the fast preset", stacklevel=3)
        return type(self).fast().steps


def baseline_config(num_labels: int = 2):
    """The ``SegformerConfig`` of the baseline (MiT-b0 layout, :data:`BASELINE` widths).

    Args:
        num_labels: segmentation classes, >= 1.
    Returns:
        A new ``transformers.SegformerConfig``.

    >>> cfg = baseline_config()
    >>> cfg.hidden_sizes, cfg.num_labels
    ([16, 32, 80, 128], 2)
    """
    from ..models import segformer_config

    return segformer_config(num_labels, **BASELINE)


def new_baseline(seed: int = 0, num_labels: int = 2):
    """A randomly initialised baseline ``SegformerForSemanticSegmentation`` (deterministic).

    Args:
        seed: an int >= 0.
        num_labels: segmentation classes, >= 1.
    Returns:
        A new ``SegformerForSemanticSegmentation`` in train mode.

    >>> a, b = new_baseline(seed=0), new_baseline(seed=0)
    >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    True
    """
    from ..models import build_segformer

    seed = V.integer(seed, "seed", low=0)
    return build_segformer(num_labels, seed=seed, **BASELINE)


def baseline_path() -> Path:
    """The checkpoint :func:`load_baseline` uses: the committed one, else the cached one.

    Returns:
        A ``pathlib.Path`` that exists.
    Raises:
        FileNotFoundError: neither checkpoint exists.

    >>> baseline_path().name
    'segformer_portraits.pt'
    """
    candidates = [BASELINE_CHECKPOINT, config.cache_dir() / "segformer" / "baseline.pt"]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise FileNotFoundError("no baseline checkpoint: the course ships one in effnn/assets (the "
                                "instructors rebuild it with `make baseline`); or pass pretrained=<local folder>")
    return path


def baseline_record(path: str | Path | None = None) -> dict:
    """The JSON written next to a baseline checkpoint: recipe, seed, command, learning curve.

    Args:
        path: the checkpoint whose ``.json`` record to read (``str`` or ``Path``); None for :func:`baseline_path`.
    Returns:
        The record, a dict parsed from JSON.

    >>> sorted(baseline_record())[:4]
    ['command', 'curve', 'fast', 'n_train']
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a path (str or pathlib.Path), got {type(path).__name__}")
    record = (Path(path) if path is not None else baseline_path()).with_suffix(".json")
    if not record.is_file():
        raise FileNotFoundError(f"path: no baseline record {record} (train-baseline writes it next to the checkpoint)")
    return json.loads(record.read_text())


def load_baseline(path: str | Path | None = None, pretrained: str | Path | None = None):
    """The trained baseline, in eval mode.

    ``pretrained``: a local ``save_pretrained`` folder (``config.json`` + weights, e.g. a copy of
    MiT-b0 put under ``EFFNN_DATA_DIR``); nothing is downloaded, and its head is replaced by a
    2-label one when it has another number of labels. ``path``: a checkpoint written by the
    instructors' ``train-baseline`` command. Neither: the committed checkpoint in
    ``effnn/assets``, else the one cached by ``train-baseline``.

    Args:
        path: a checkpoint (``str`` or ``Path``) that exists, or None.
        pretrained: a ``save_pretrained`` folder with ``config.json``, or None; not with ``path``.
    Returns:
        A new model, in eval mode.

    >>> model = load_baseline()
    >>> model.training, model.config.hidden_sizes == BASELINE["hidden_sizes"]
    (False, True)
    >>> load_baseline(path="no/such.pt")
    Traceback (most recent call last):
        ...
    FileNotFoundError: path: no baseline checkpoint at no/such.pt
    """
    if pretrained is not None and path is not None:
        raise ValueError("pass either path (a train-baseline checkpoint) or pretrained (a folder), not both")
    if pretrained is not None:
        from ..models import build_segformer

        folder = V.existing_path(pretrained, "pretrained", what="save_pretrained folder",
                                 hint="Copy a Segformer saved with save_pretrained (config.json and its "
                                      "weights) there; nothing is downloaded")
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"pretrained: {folder} has no config.json; it must be a folder written "
                                    "by save_pretrained")
        return build_segformer(2, pretrained=folder).eval()
    path = V.existing_path(path, "path", what="baseline checkpoint") if path is not None else baseline_path()
    model = new_baseline()
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model.eval()
