"""Hidden checks of A0 (warm-up): measuring a layer and magnitude-pruning masks.

Inputs are seeded here and never appear in the release. Messages say what is wrong, never what the
expected value is.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import call as _call
from ._common import expects_error as _expects_error


def check_linear_cost(linear_cost):
    gen = torch.Generator().manual_seed(20260)
    for _ in range(6):
        i, o = (int(v) for v in torch.randint(1, 700, (2,), generator=gen))
        batch = int(torch.randint(1, 9, (1,), generator=gen))
        bias = bool(torch.randint(0, 2, (1,), generator=gen))
        got = _call(linear_cost, i, o, batch, bias, what="linear_cost")
        if not isinstance(got, dict) or not {"params", "macs", "bytes"} <= set(got):
            raise AssertionError("linear_cost must return a dict with keys 'params', 'macs' and 'bytes'")
        layer = nn.Linear(i, o, bias=bias)
        from effnn import measure

        truth = {"params": measure.count_params(layer),
                 "macs": measure.count_macs(layer, torch.zeros(batch, i)),
                 "bytes": measure.dense_bytes(layer)}
        for key in ("params", "macs", "bytes"):
            if got[key] != truth[key]:
                raise AssertionError(f"linear_cost gives a wrong '{key}' for some layer shapes "
                                     f"(check batch size and bias handling)")
    _expects_error(linear_cost, (0, 5, 1, True), (ValueError,), "linear_cost with in_features=0")


def _reference_mask(w, sparsity):
    k = int(round(sparsity * w.numel()))
    mask = torch.ones(w.numel())
    if k:
        mask[torch.argsort(w.abs().flatten(), stable=True)[:k]] = 0
    return mask.view_as(w)


def check_magnitude_mask(magnitude_mask):
    gen = torch.Generator().manual_seed(777)
    shapes = [(13, 7), (5, 3, 3, 3), (101,), (4, 33)]
    for shape, s in zip(shapes, (0.0, 0.37, 0.5, 0.91)):
        w = torch.randn(*shape, generator=gen)
        w_before = w.clone()
        mask = _call(magnitude_mask, w, s, what="magnitude_mask")
        if not torch.is_tensor(mask) or mask.shape != w.shape:
            raise AssertionError("magnitude_mask must return a tensor with the weight's shape")
        if not torch.equal(w, w_before):
            raise AssertionError("magnitude_mask must not modify the weight it is given")
        m = mask.float()
        if not torch.all((m == 0) | (m == 1)):
            raise AssertionError("the mask must contain only 0 and 1")
        if int((m == 0).sum()) != int(round(s * w.numel())):
            raise AssertionError("the mask removes the wrong number of weights for some sparsities")
        if not torch.equal(m, _reference_mask(w, s)):
            raise AssertionError("the mask removes weights that are not the smallest in magnitude")
    for bad in (-0.1, 1.0, 1.5):
        _expects_error(magnitude_mask, (torch.randn(3, 3), bad), (ValueError,), f"magnitude_mask with sparsity={bad}")
    _expects_error(magnitude_mask, ([1.0, 2.0], 0.5), (TypeError,), "magnitude_mask with a list instead of a tensor")


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 20), nn.ReLU(),
                         nn.Linear(20, 10))


def check_global_masks(global_magnitude_masks):
    for seed, s in ((31, 0.6), (32, 0.85)):
        net = _net(seed)
        with torch.no_grad():
            net[3].weight.mul_(0.2)  # layers on different scales: global != per-layer
        masks = _call(global_magnitude_masks, net, s, what="global_magnitude_masks")
        names = {n for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
        if not isinstance(masks, dict) or set(masks) != names:
            raise AssertionError("global_magnitude_masks must return one mask per Linear/Conv2d module, "
                                 "keyed by the module's name in named_modules()")
        weights = torch.cat([dict(net.named_modules())[n].weight.detach().abs().flatten() for n in sorted(names)])
        kept = torch.cat([masks[n].float().flatten() for n in sorted(names)])
        if int((kept == 0).sum()) != int(round(s * weights.numel())):
            raise AssertionError("the global masks do not remove the requested fraction of all weights")
        if weights[kept == 1].min() < weights[kept == 0].max():
            raise AssertionError("a removed weight is larger than a kept one: use one threshold across layers")
        for n in names:
            if masks[n].shape != dict(net.named_modules())[n].weight.shape:
                raise AssertionError("each mask must have the shape of its module's weight")
    _expects_error(global_magnitude_masks, (_net(1), 1.0), (ValueError,), "global_magnitude_masks with sparsity=1.0")


def check_apply_masks(apply_masks):
    from torch.nn.utils import prune

    net = _net(5)
    gen = torch.Generator().manual_seed(55)
    masks = {n: (torch.rand(m.weight.shape, generator=gen) > 0.7).float()
             for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    x = torch.randn(3, 1, 8, 8, generator=gen)
    out = _call(apply_masks, net, masks, what="apply_masks")
    if out is not net:
        raise AssertionError("apply_masks should prune the model in place and return it")
    for n, m in net.named_modules():
        if n in masks:
            if not prune.is_pruned(m) or not hasattr(m, "weight_mask"):
                raise AssertionError("apply_masks must use torch.nn.utils.prune so the masks stay attached")
            if not torch.equal(m.weight_mask, masks[n]):
                raise AssertionError("a module carries a different mask than the one given")
    ref = _net(5)
    with torch.no_grad():
        for n, m in ref.named_modules():
            if n in masks:
                m.weight.mul_(masks[n])
    if not torch.allclose(net(x), ref(x), atol=1e-6):
        raise AssertionError("the pruned model's output is not that of the masked weights")
