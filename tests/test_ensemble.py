"""effnn.ensemble: the logit average of its members (a geometric ensemble), usable as a KD teacher."""
import pytest
import torch
from torch import nn

from effnn import distill
from effnn.ensemble import LogitEnsemble


def _members():
    torch.manual_seed(0)
    return [nn.Linear(4, 3) for _ in range(3)]


def test_mean_of_logits_seeded_values():
    members = _members()
    x = torch.arange(8.0).reshape(2, 4) / 8
    out = LogitEnsemble(members)(x)
    assert torch.allclose(out, sum(m(x) for m in members) / 3, atol=1e-7)
    assert out[0].tolist() == pytest.approx([-0.40167, -0.27741, -0.21280], abs=1e-4)


def test_softmax_is_the_normalised_geometric_mean():
    members = _members()
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    probs = torch.stack([m(x).softmax(1) for m in members])
    geo = probs.log().mean(0).exp()
    assert torch.allclose(LogitEnsemble(members)(x).softmax(1), geo / geo.sum(1, keepdim=True), atol=1e-6)


def test_one_member_is_that_member():
    m = _members()[0]
    x = torch.ones(2, 4)
    assert torch.equal(LogitEnsemble([m])(x), m(x))


def test_works_as_a_kd_teacher():
    members = _members()
    loss_fn = distill.kd_loss_fn(LogitEnsemble(members), T=2.0, alpha=1.0)
    student = nn.Linear(4, 3)
    x, y = torch.randn(6, 4, generator=torch.Generator().manual_seed(2)), torch.zeros(6, dtype=torch.long)
    loss = loss_fn(student, x, y)
    loss.backward()
    assert loss.item() > 0 and student.weight.grad is not None
    assert all(p.grad is None for m in members for p in m.parameters())


@pytest.mark.parametrize("bad, err", [([], ValueError), (nn.Linear(2, 2), TypeError), ([nn.Linear(2, 2), "x"], TypeError),
                                      ("ab", TypeError)])
def test_refuses_bad_members(bad, err):
    with pytest.raises(err, match="members"):
        LogitEnsemble(bad)
