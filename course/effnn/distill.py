"""Knowledge distillation: soft targets with a temperature, the KD loss, and FitNets-style hints.

Hinton et al. (2015) train a student on the teacher's *softened* distribution
``softmax(z / T)``; its small probabilities ("dark knowledge") say which wrong classes look alike.
Gradients of the soft term scale as ``1 / T**2``, so the loss multiplies it by ``T**2`` to keep the
balance with the hard-label term independent of ``T``.

Logits may be ``(N, C)`` (classification) or ``(N, C, H, W)`` (segmentation: class dim 1, the
loss is averaged over pixels), so the same loss serves LeNet and Segformer.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import validate as V


def _check_temperature(T) -> float:
    return V.number(T, "T", low=0, low_open=True)


def _check_logits(name: str, logits) -> torch.Tensor:
    if not torch.is_tensor(logits):
        raise TypeError(f"{name} must be a tensor, got {type(logits).__name__}")
    if logits.dim() < 2:
        raise ValueError(f"{name} must have shape (N, C) or (N, C, ...), got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {logits.dtype}")
    if logits.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(logits.shape)}")
    if not bool(torch.isfinite(logits.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinity")
    return logits


def softmax_t(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """``softmax(logits / T)`` over the class dim 1: larger ``T`` gives softer targets.

    Args:
        logits: float ``(N, C, ...)``, non-empty and finite.
        T: the temperature, > 0.
    Returns:
        A new tensor shaped like ``logits``, summing to 1 over dim 1.

    >>> softmax_t(torch.tensor([[0.0, 0.0]]), T=2).tolist()
    [[0.5, 0.5]]
    """
    T = _check_temperature(T)
    logits = _check_logits("logits", logits)
    return F.softmax(logits / T, dim=1)


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 4.0) -> torch.Tensor:
    """``KL(softmax(t/T) || softmax(s/T))`` summed over classes, averaged over samples (and pixels).

    Args:
        student_logits: float ``(N, C, ...)``, finite.
        teacher_logits: the same shape; detached.
        T: the temperature, > 0.
    Returns:
        A scalar tensor (nats, not scaled by ``T**2``), 0 when the student matches the teacher.

    >>> round(float(soft_kl(torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0, 0.0]]))), 4)
    0.0
    >>> float(soft_kl(torch.tensor([[0.0, 2.0]]), torch.tensor([[2.0, 0.0]]))) > 0
    True
    """
    T = _check_temperature(T)
    s = _check_logits("student_logits", student_logits)
    t = _check_logits("teacher_logits", teacher_logits)
    if s.shape != t.shape:
        raise ValueError(f"student_logits {tuple(s.shape)} and teacher_logits {tuple(t.shape)} "
                         "must have the same shape")
    log_p_s = F.log_softmax(s / T, dim=1)
    log_p_t = F.log_softmax(t.detach() / T, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)  # (N,) or (N, H, W)
    return kl.mean()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets=None, *,
            T: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Hinton's distillation loss ``alpha * T**2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(s, y)``.

    ``targets`` (class indices, shape ``(N,)`` or ``(N, H, W)``) may be ``None`` only when
    ``alpha == 1`` (pure distillation, e.g. on unlabelled data). The teacher is detached.

    Args:
        student_logits, teacher_logits: float ``(N, C)`` or ``(N, C, H, W)``, same shape, finite.
        targets: integer class indices ``(N,)`` or ``(N, H, W)``; None only when ``alpha == 1``.
        T: temperature > 0.
        alpha: weight of the soft term, in [0, 1].
    Returns:
        the scalar loss (differentiable in ``student_logits``).

    >>> z = torch.tensor([[2.0, 0.0]])
    >>> float(kd_loss(z, z, None, alpha=1.0))
    0.0
    """
    alpha = V.probability(alpha, "alpha")
    T = _check_temperature(T)
    loss = alpha * T * T * soft_kl(student_logits, teacher_logits, T)
    if alpha < 1.0:
        if targets is None:
            raise ValueError("targets are required when alpha < 1 (the hard-label term is used)")
        if not torch.is_tensor(targets):
            raise TypeError(f"targets must be a tensor, got {type(targets).__name__}")
        expected = student_logits.shape[:1] + student_logits.shape[2:]
        if targets.shape != expected:
            raise ValueError(f"targets shape {tuple(targets.shape)} does not match logits "
                             f"{tuple(student_logits.shape)} (expected {tuple(expected)})")
        loss = loss + (1.0 - alpha) * F.cross_entropy(student_logits, targets)
    return loss


# ---------------------------------------------------------------------------------------------
# Training with a teacher
# ---------------------------------------------------------------------------------------------

def kd_loss_fn(teacher: nn.Module, *, T: float = 4.0, alpha: float = 0.9):
    """A ``loss_fn(model, x, y)`` for :func:`effnn.train.fit` that distils from ``teacher``.

    Reads ``teacher``; does not change its weights (it is put in eval mode). ``T`` and ``alpha``
    as in :func:`kd_loss`.

    Args:
        teacher: read only; put in eval mode here, run under ``torch.no_grad()``.
        T: the temperature, > 0.
        alpha: the soft term's weight, in [0, 1].
    Returns:
        ``loss_fn(model, x, y) -> scalar tensor``.

    >>> teacher = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> loss_fn = kd_loss_fn(teacher, T=2.0)
    >>> loss_fn(nn.Linear(4, 2), torch.randn(3, 4), torch.tensor([0, 1, 0])).shape  # a scalar
    torch.Size([])
    """
    V.module(teacher, "teacher")
    _check_temperature(T)
    V.probability(alpha, "alpha")
    teacher.eval()

    def loss_fn(model, x, y):
        with torch.no_grad():
            t = teacher(x)
        return kd_loss(model(x), t, y, T=T, alpha=alpha)

    return loss_fn


class FeatureTap:
    """Keeps the latest output of ``module`` (a forward hook), for hint losses.

    ``remove()`` takes the hook off again.

    Args:
        module: any module; a forward hook is registered on it until :meth:`remove`.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU()); tap = FeatureTap(net[0])
    >>> _ = net(torch.randn(3, 4)); tap.output.shape
    torch.Size([3, 8])
    >>> tap.remove()
    """

    def __init__(self, module: nn.Module):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.output = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.output = output

    def remove(self) -> None:
        self._handle.remove()


class HintStudent(nn.Module):
    """A student plus the FitNets adapter (regressor) that maps its hint layer to the teacher's
    width. Training this container trains both; ``forward`` is the student's.

    Args:
        student: the student network, kept (not copied) as ``self.student``.
        hint_layer: a module inside ``student`` whose output is the hint (tapped by a forward hook).
        student_dim: the flattened width of that output, >= 1.
        teacher_dim: the flattened width of the teacher's hint, >= 1.

    >>> s = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> hs = HintStudent(s, s[1], student_dim=3, teacher_dim=8)
    >>> hs(torch.randn(5, 4)).shape, hs.tap.output.shape, hs.adapter.out_features
    (torch.Size([5, 2]), torch.Size([5, 3]), 8)
    """

    def __init__(self, student: nn.Module, hint_layer: nn.Module, student_dim: int, teacher_dim: int):
        super().__init__()
        V.module(student, "student")
        V.module(hint_layer, "hint_layer")
        V.positive_int(student_dim, "student_dim")
        V.positive_int(teacher_dim, "teacher_dim")
        self.student = student
        self.adapter = nn.Linear(student_dim, teacher_dim)
        self.tap = FeatureTap(hint_layer)

    def forward(self, x):
        return self.student(x)


def hint_loss_fn(teacher: nn.Module, teacher_layer: nn.Module, *, beta: float = 1.0, T: float = 4.0,
                 alpha: float = 0.9):
    """``kd_loss + beta * ||adapter(h_s) - h_t||^2`` (mean): FitNets' hint on top of KD.

    Reads ``teacher``; does not change its weights.

    ``teacher_layer`` is the teacher module whose output is the hint; the student side comes
    from the :class:`HintStudent` the loss is called with.

    Args:
        teacher: read only; put in eval mode here.
        teacher_layer: the teacher module whose output is the hint; a forward hook stays registered on it.
        beta: the hint term's weight, >= 0.
        T: the temperature, > 0.
        alpha: the soft term's weight, in [0, 1].
    Returns:
        ``loss_fn(model, x, y) -> scalar tensor``; ``model`` must be the :class:`HintStudent`.

    >>> teacher = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> s = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> loss_fn = hint_loss_fn(teacher, teacher[1], beta=0.5)
    >>> loss_fn(HintStudent(s, s[1], 3, 8), torch.randn(5, 4), torch.arange(5) % 2).item() > 0
    True
    """
    V.module(teacher, "teacher")
    V.module(teacher_layer, "teacher_layer")
    V.number(beta, "beta", low=0)
    _check_temperature(T)
    V.probability(alpha, "alpha")
    teacher.eval()
    tap = FeatureTap(teacher_layer)

    def loss_fn(model, x, y):
        if not isinstance(model, HintStudent):
            raise TypeError("hint_loss_fn needs the HintStudent container as the model")
        with torch.no_grad():
            t = teacher(x)
        s = model(x)
        h_s, h_t = model.adapter(model.tap.output.flatten(1)), tap.output.flatten(1).detach()
        return kd_loss(s, t, y, T=T, alpha=alpha) + beta * F.mse_loss(h_s, h_t)

    return loss_fn


# ---------------------------------------------------------------------------------------------
# The limited-data experiment (Hinton et al. 2015, section 5: 3% of the training set)
# ---------------------------------------------------------------------------------------------

def class_balanced_subset(x: torch.Tensor, y: torch.Tensor, per_class: int, seed: int = 0):
    """``per_class`` random examples of every class (seeded): the small labelled set.

    A class with fewer than ``per_class`` examples is an error.

    Args:
        x: ``(N, ...)`` inputs, non-empty.
        y: ``(N,)`` class labels.
        per_class: examples per class, >= 1.
        seed: an int; the same seed picks the same examples.
    Returns:
        ``(x_subset, y_subset)``, new tensors of ``per_class * classes`` samples, grouped by class.

    >>> xs, ys = class_balanced_subset(torch.randn(20, 3), torch.arange(20) % 4, per_class=2)
    >>> xs.shape, ys.bincount().tolist()
    (torch.Size([8, 3]), [2, 2, 2, 2])
    """
    V.tensor(x, "x", min_numel=1)
    V.tensor(y, "y", ndim=1)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    V.positive_int(per_class, "per_class")
    V.integer(seed, "seed")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).reshape(-1)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} examples, per_class={per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    idx = torch.cat(picks)
    return x[idx], y[idx]


def train_student(make_student, data, cfg, *, teacher: nn.Module | None = None, T: float = 4.0,
                  alpha: float = 0.9, seed: int = 0, desc: str = "student") -> nn.Module:
    """Build a student with ``make_student()`` under ``seed`` and train it on ``data``: plain
    cross-entropy without a teacher, :func:`kd_loss` with one. Same init, same batches either way.

    Equal seeds give equal students, so a KD gain is not an init effect.

    Args:
        make_student: ``make_student() -> nn.Module``, called after seeding.
        data: ``(x, y)`` tensors, a Dataset or a DataLoader.
        cfg: a :class:`~effnn.train.TrainConfig`; its ``seed`` is replaced by ``seed``.
        teacher: read only (put in eval mode); None for plain cross-entropy.
        T: the temperature, > 0 (with a teacher).
        alpha: the soft term's weight, in [0, 1] (with a teacher).
        seed: seeds the init and the batch order.
        desc: the progress bar's label.
    Returns:
        The new, trained student.

    >>> from effnn.train import TrainConfig
    >>> d, cfg = (torch.randn(32, 4), torch.arange(32) % 2), TrainConfig(epochs=1, batch_size=16)
    >>> a, b = (train_student(lambda: nn.Linear(4, 2), d, cfg) for _ in range(2))
    >>> torch.equal(a.weight, b.weight)
    True
    """
    import dataclasses

    from .train import _config, fit, seed_everything

    V.function(make_student, "make_student")
    V.data(data, "data")
    _config(cfg)
    if teacher is not None:
        V.module(teacher, "teacher")
    _check_temperature(T)
    V.probability(alpha, "alpha")
    V.integer(seed, "seed")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    cfg = dataclasses.replace(cfg, seed=seed)
    seed_everything(seed)
    student = make_student()
    loss_fn = None if teacher is None else kd_loss_fn(teacher, T=T, alpha=alpha)
    fit(student, data, cfg, loss_fn=loss_fn, desc=desc)
    return student
