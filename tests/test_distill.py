"""effnn.distill: the KD loss against a hand computation, shapes, and bad input."""
import math

import pytest
import torch
from torch.nn import functional as F

from effnn import distill as D
from effnn.distill import kd_loss, soft_kl, softmax_t


def test_softmax_t_flattens_with_temperature():
    z = torch.tensor([[1.0, 2.0, 4.0]])
    p1, p4 = softmax_t(z, 1.0), softmax_t(z, 4.0)
    assert torch.allclose(p1.sum(1), torch.ones(1)) and torch.allclose(p4.sum(1), torch.ones(1))
    assert p4.max() < p1.max() and p4.min() > p1.min()
    e = [math.exp(v / 4) for v in (1.0, 2.0, 4.0)]
    assert p4[0, 0].item() == pytest.approx(e[0] / sum(e), rel=1e-6)


def test_kd_loss_equals_hand_computation():
    s = torch.tensor([[1.0, 0.0, -1.0]])
    t = torch.tensor([[2.0, 1.0, 0.0]])
    y = torch.tensor([0])
    T, alpha = 2.0, 0.7
    ps = [math.exp(v / T) for v in (1.0, 0.0, -1.0)]
    pt = [math.exp(v / T) for v in (2.0, 1.0, 0.0)]
    ps = [v / sum(ps) for v in ps]
    pt = [v / sum(pt) for v in pt]
    kl = sum(a * math.log(a / b) for a, b in zip(pt, ps))
    e = [math.exp(v) for v in (1.0, 0.0, -1.0)]
    ce = -math.log(e[0] / sum(e))
    expected = alpha * T * T * kl + (1 - alpha) * ce
    assert kd_loss(s, t, y, T=T, alpha=alpha).item() == pytest.approx(expected, rel=1e-5)


def test_kd_loss_zero_when_student_matches_teacher_and_alpha_one():
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert kd_loss(z, z.clone(), T=3.0, alpha=1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_segmentation_is_per_pixel_mean():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g)
    y = torch.randint(0, 3, (2, 4, 5), generator=g)
    flat = lambda z: z.permute(0, 2, 3, 1).reshape(-1, 3)  # noqa: E731
    a = kd_loss(s, t, y, T=2.0, alpha=0.5)
    b = kd_loss(flat(s), flat(t), y.reshape(-1), T=2.0, alpha=0.5)
    assert a.item() == pytest.approx(b.item(), rel=1e-5)


def test_kd_gradient_reaches_student_only():
    s = torch.randn(4, 10, requires_grad=True)
    t = torch.randn(4, 10, requires_grad=True)
    kd_loss(s, t, torch.arange(4), T=4.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_soft_kl_is_nonnegative():
    g = torch.Generator().manual_seed(2)
    assert soft_kl(torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g), T=3.0) >= 0


@pytest.mark.parametrize("s_shape,t_shape", [((4, 10), (4, 9)), ((4, 10), (5, 10)),
                                             ((2, 3, 4, 4), (2, 3, 4, 5))])
def test_mismatched_logits_raise(s_shape, t_shape):
    with pytest.raises(ValueError, match="teacher_logits"):
        kd_loss(torch.zeros(s_shape), torch.zeros(t_shape), T=2.0, alpha=1.0)


def test_bad_arguments_raise():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="T"):
        kd_loss(z, z, torch.zeros(2, dtype=torch.long), T=0.0)
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(z, z, torch.zeros(2, dtype=torch.long), alpha=1.5)
    with pytest.raises(ValueError, match="targets"):
        kd_loss(z, z, None, alpha=0.5)
    with pytest.raises(ValueError, match="targets"):
        kd_loss(z, z, torch.zeros(3, dtype=torch.long), alpha=0.5)
    with pytest.raises(TypeError, match="logits"):
        softmax_t([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="logits"):
        softmax_t(torch.zeros(3), 1.0)


def test_class_balanced_subset():
    x = torch.arange(40).float().reshape(20, 2)
    y = torch.arange(20) % 4
    xs, ys = D.class_balanced_subset(x, y, per_class=3, seed=0)
    assert ys.bincount().tolist() == [3, 3, 3, 3]
    assert torch.equal(xs, D.class_balanced_subset(x, y, per_class=3, seed=0)[0])
    assert not torch.equal(xs, D.class_balanced_subset(x, y, per_class=3, seed=1)[0])
    with pytest.raises(ValueError, match="per_class"):
        D.class_balanced_subset(x, y, per_class=0)
    with pytest.raises(ValueError, match="per_class"):
        D.class_balanced_subset(x, y, per_class=6)


def test_hint_loss_trains_the_adapter_and_adds_to_kd():
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    student = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    hs = D.HintStudent(student, student[1], student_dim=2, teacher_dim=6)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    hint = D.hint_loss_fn(teacher, teacher[1], beta=1.0)(hs, x, y)
    kd = D.kd_loss_fn(teacher)(student, x, y)
    assert hint.item() > kd.item()
    hint.backward()
    assert hs.adapter.weight.grad is not None and hs.adapter.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    with pytest.raises(TypeError, match="HintStudent"):
        D.hint_loss_fn(teacher, teacher[1])(student, x, y)
    with pytest.raises(ValueError, match="beta"):
        D.hint_loss_fn(teacher, teacher[1], beta=-1.0)


def test_train_student_is_seeded_and_uses_the_teacher():
    from effnn.train import TrainConfig

    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    teacher = torch.nn.Linear(4, 3)
    make = lambda: torch.nn.Linear(4, 3)  # noqa: E731
    cfg = TrainConfig(epochs=2, fast_epochs=2, batch_size=8)
    a = D.train_student(make, (x, y), cfg, seed=3)
    b = D.train_student(make, (x, y), cfg, seed=3)
    c = D.train_student(make, (x, y), cfg, teacher=teacher, seed=3)
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, c.weight)
