"""Every criterion against a brute-force reference on tiny, seeded inputs."""
import pytest
import torch
from torch import nn

from effnn import criteria as C


def _tiny(seed=0, hidden=4):
    torch.manual_seed(seed)
    model = C.TinyMLP(in_features=5, hidden=hidden, num_classes=3)
    x, y = torch.randn(40, 5), torch.randint(0, 3, (40,))
    return model, x, y


def test_magnitudes_and_filter_norms():
    w = torch.tensor([[3.0, -4.0], [0.5, 0.0]])
    assert torch.equal(C.magnitude(w, 1), torch.tensor([[3.0, 4.0], [0.5, 0.0]]))
    assert torch.equal(C.magnitude(w, 2), torch.tensor([[9.0, 16.0], [0.25, 0.0]]))
    assert torch.allclose(C.filter_norm(w, 2), torch.tensor([5.0, 0.5]))
    assert torch.allclose(C.filter_norm(w, 1), torch.tensor([7.0, 0.5]))


def test_bn_scale_and_geometric_median():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -2.0, 0.1]))
    assert torch.equal(C.bn_scale(bn), torch.tensor([0.5, 2.0, 0.1]))
    # three filters on a line: the middle one is the geometric median, scored lowest
    w = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]).reshape(3, 2, 1, 1)
    assert torch.allclose(C.geometric_median_distance(w), torch.tensor([4.0, 3.0, 5.0]))
    with pytest.raises(TypeError, match="bn"):
        C.bn_scale(nn.Linear(2, 2))


def test_taylor_scores_match_the_loss_change_to_first_order():
    model, x, y = _tiny()
    names, loss_of = C.weight_loss_fn(model, x, y)
    params = [dict(model.named_parameters())[n] for n in names]
    tensors = [p.detach().clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(loss_of(tensors), tensors)
    w, g = params[0].detach(), grads[0]
    score = C.taylor_weight(w, g)
    assert torch.allclose(score, (w * g).abs())
    i, j = 1, 2  # a tiny scaled-down step: ΔL ≈ -w g for w -> (1-eps) w, exact to first order
    eps = 1e-3
    moved = [t.detach().clone() for t in params]
    moved[0][i, j] *= 1 - eps
    d_loss = float(loss_of(moved) - loss_of([t.detach() for t in params]))
    assert d_loss == pytest.approx(float(-eps * w[i, j] * g[i, j]), rel=1e-2, abs=1e-9)
    assert torch.allclose(C.taylor_group(w, g), (w * g).sum(1).pow(2))


def test_taylor_activation_is_a_channel_mean():
    a = torch.arange(24.0).reshape(2, 3, 2, 2)
    g = torch.ones_like(a)
    g[1] = -1
    expected = torch.stack([(a[n].reshape(3, 4).mean(1) * g[n, :, 0, 0]).abs() for n in range(2)]).mean(0)
    assert torch.allclose(C.taylor_activation(a, g), expected)


def test_hessian_matches_finite_differences_of_the_gradient():
    model, x, y = _tiny()
    names, loss_of = C.weight_loss_fn(model, x, y)
    params = [dict(model.named_parameters())[n] for n in names]
    h = C.hessian(loss_of, params)
    d = sum(p.numel() for p in params)
    assert h.shape == (d, d) and torch.allclose(h, h.T, atol=1e-5)
    sizes, shapes = [p.numel() for p in params], [p.shape for p in params]

    def grad_at(v):
        ts = [t.view(s).clone().requires_grad_(True) for t, s in zip(v.split(sizes), shapes)]
        return torch.cat([gg.reshape(-1) for gg in torch.autograd.grad(loss_of(ts), ts)])

    v0 = C.flat_params(params).double()
    model.double()
    names, loss_of = C.weight_loss_fn(model, x.double(), y)
    k, eps = 7, 1e-5
    col = (grad_at(v0 + eps * torch.eye(d, dtype=torch.float64)[k]) - grad_at(v0 - eps * torch.eye(d, dtype=torch.float64)[k])) / (2 * eps)
    assert torch.allclose(h[:, k].double(), col, atol=1e-4)


def test_obd_is_half_diag_times_w_squared():
    w, hd = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([2.0, 1.0, 0.5])
    assert torch.equal(C.obd_saliency(w, hd), torch.tensor([1.0, 2.0, 2.25]))


def test_obs_single_removal_solves_the_constrained_quadratic():
    torch.manual_seed(0)
    a = torch.randn(6, 6, dtype=torch.float64)
    h = a @ a.T + 0.5 * torch.eye(6, dtype=torch.float64)
    w = torch.randn(6, dtype=torch.float64)
    h_inv = torch.linalg.inv(h)
    q = 2
    dw = C.obs_update(w, h_inv, q)
    # brute force: KKT system of min 1/2 dw^T H dw  s.t. e_q^T dw = -w_q
    kkt = torch.zeros(7, 7, dtype=torch.float64)
    kkt[:6, :6], kkt[:6, 6], kkt[6, :6] = h, 0, 0
    kkt[q, 6] = kkt[6, q] = 1.0
    rhs = torch.zeros(7, dtype=torch.float64)
    rhs[6] = -w[q]
    ref = torch.linalg.solve(kkt, rhs)[:6]
    assert torch.allclose(dw, ref) and float(w[q] + dw[q]) == pytest.approx(0.0, abs=1e-12)
    assert float(C.obs_saliency(w, h_inv)[q]) == pytest.approx(float(0.5 * ref @ h @ ref))
    # the greedy choice is the weight whose constrained optimum costs least
    costs = []
    for r in range(6):
        kkt2 = kkt.clone()
        kkt2[:6, 6] = kkt2[6, :6] = 0
        kkt2[r, 6] = kkt2[6, r] = 1.0
        rhs[6] = -w[r]
        sol = torch.linalg.solve(kkt2, rhs)[:6]
        costs.append(float(0.5 * sol @ h @ sol))
    new_w, kept = C.obs_prune(w, h_inv, 1)
    assert int(torch.nonzero(~kept)) == min(range(6), key=costs.__getitem__)


def test_obs_path_downdate_equals_inverting_the_reduced_hessian():
    torch.manual_seed(1)
    a = torch.randn(5, 5, dtype=torch.float64)
    h = a @ a.T + torch.eye(5, dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    new_w, kept = C.obs_prune(w, torch.linalg.inv(h), 2)
    keep = kept.nonzero().squeeze(1)
    gone = (~kept).nonzero().squeeze(1)
    # optimal rest given the removed set: minimise the quadratic with w[gone] = 0
    ref = w.clone()
    ref[gone] = 0
    ref[keep] = w[keep] + torch.linalg.solve(h[keep][:, keep], h[keep][:, gone] @ w[gone])
    assert torch.allclose(new_w.double(), ref, atol=1e-5) and bool((new_w[gone] == 0).all())


def test_woodfisher_recursion_equals_the_dense_inverse():
    torch.manual_seed(0)
    g = torch.randn(30, 8)
    damp = 1e-2
    ref = torch.linalg.inv(C.empirical_fisher(g.double(), damp))
    assert torch.allclose(C.woodfisher_inverse(g, damp).double(), ref, rtol=1e-4, atol=1e-4)


def test_per_sample_grads_match_a_loop():
    model, x, y = _tiny()
    g = C.per_sample_grads(model, x[:4], y[:4])
    for n in range(4):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[n:n + 1]), y[n:n + 1]).backward()
        ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        assert torch.allclose(g[n], ref, atol=1e-6)


def test_kfac_factors_against_the_exact_fisher_block():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3, bias=False)
    x = torch.randn(50, 4)
    y = torch.randint(0, 3, (50,))
    out = lin(x)
    out.retain_grad()
    nn.functional.cross_entropy(out, y, reduction="sum").backward()
    gy = out.grad  # per-sample dl/dy
    per_sample = torch.einsum("no,ni->noi", gy, x).reshape(50, -1)  # vec(g x^T), row-major
    exact = per_sample.T @ per_sample / 50
    a, g = C.kfac_factors(x, gy)
    assert torch.allclose(a, x.T @ x / 50) and torch.allclose(g, gy.T @ gy / 50)
    a1, g1 = C.kfac_factors(x[:1], gy[:1])  # one sample: the Kronecker product is exact
    one = per_sample[:1].T @ per_sample[:1]
    assert torch.allclose(torch.kron(g1, a1), one, atol=1e-6)
    # many samples: an approximation (x and dl/dy are not independent), but close to the exact block
    approx = torch.kron(g, a)
    err = (approx - exact).norm() / exact.norm()
    assert float(err) < 0.6


def test_loss_increase_table_orders_criteria():
    torch.manual_seed(0)
    model = C.TinyMLP(in_features=8, hidden=6, num_classes=3)
    x, y = torch.randn(120, 8), torch.randint(0, 3, (120,))
    from effnn.train import TrainConfig, fit
    fit(model, (x, y), TrainConfig(epochs=40, fast_epochs=40, lr=1e-2, batch_size=120))
    table = C.loss_increase(model, x, y, amounts=(0.5,), seeds=3)
    row = table[0.5]
    assert set(row) == set(C.CRITERIA)
    assert row["obs"] < row["magnitude"] < row["random"]


def test_bad_inputs():
    with pytest.raises(ValueError, match="p"):
        C.magnitude(torch.ones(2), p=3)
    with pytest.raises(TypeError, match="weight"):
        C.magnitude([1.0, 2.0])
    with pytest.raises(ValueError, match="grad"):
        C.taylor_weight(torch.ones(2, 2), torch.ones(2))
    with pytest.raises(ValueError, match="damp"):
        C.woodfisher_inverse(torch.ones(3, 2), damp=0)
    with pytest.raises(ValueError, match="n_prune"):
        C.obs_prune(torch.ones(3), torch.eye(3), 4)
    with pytest.raises(ValueError, match="amounts"):
        C.criterion_weights(C.TinyMLP(4, 2, 2), torch.ones(2, 4), torch.zeros(2, dtype=torch.long), (1.0,))


def test_run_criteria_and_the_keyword_form_agree():
    from effnn.criteria import CriteriaConfig, criteria_experiment, run_criteria

    g = torch.Generator().manual_seed(0)
    data = (torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g))
    cfg = CriteriaConfig(hidden=3, epochs=1, amounts=(0.5,), fisher_samples=16)
    res = run_criteria(cfg, data)
    assert set(res.table) == {0.5} and {"magnitude", "obs", "random"} <= set(res.table[0.5])
    old = criteria_experiment(hidden=3, epochs=1, amounts=[0.5], fisher_samples=16, data=data)
    assert old["table"] == res.table
    with pytest.raises(ValueError, match="amounts"):
        CriteriaConfig(amounts=(1.0,))
