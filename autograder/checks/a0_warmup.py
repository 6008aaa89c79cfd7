"""Hidden checks of A0 (warm-up): measuring a layer and magnitude-pruning masks.

Each ``check_*(k)`` runs in the judge, outside the submission's sandbox, and drives the student's
function in the kernel through ``k`` (:class:`autograder.judge.Kernel`). Inputs are seeded here;
expected values are computed here from first principles. Messages say what is wrong, never what the
expected value is.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import call as _call
from ._common import expects_error as _expects_error
from ._common import tensor as _tensor


def check_linear_cost(k):
    """linear_cost returns exact params, MACs and float32 bytes of nn.Linear, also too large to build; rejects 0."""
    linear_cost = k.arg("linear_cost")
    gen = torch.Generator().manual_seed(20260)
    for _ in range(6):
        i, o = (int(v) for v in torch.randint(1, 700, (2,), generator=gen))
        batch = int(torch.randint(1, 9, (1,), generator=gen))
        bias = bool(torch.randint(0, 2, (1,), generator=gen))
        got = _call(linear_cost, i, o, batch, bias, what="linear_cost")
        if not isinstance(got, dict) or not {"params", "macs", "bytes"} <= set(got):
            raise AssertionError("linear_cost must return a dict with keys 'params', 'macs' and 'bytes'")
        params = i * o + (o if bias else 0)
        truth = {"params": params, "macs": batch * i * o, "bytes": 4 * params}
        for key in ("params", "macs", "bytes"):
            if got[key] != truth[key]:
                raise AssertionError(f"linear_cost gives a wrong '{key}' for some layer shapes "
                                     f"(check batch size and bias handling)")
    # Python integers do not overflow, torch's sizes do: the counts of a layer far too large to
    # build (more weights than int64 holds) are still exact when computed from the sizes.
    i, o = 3_000_000_019 + int(torch.randint(0, 1000, (1,), generator=gen)), 4_000_000_007
    got = _call(linear_cost, i, o, 2, True, what="linear_cost on a layer too large to build")
    params = i * o + o
    if not isinstance(got, dict) or [got.get(key) for key in ("params", "macs", "bytes")] != [params, 2 * i * o,
                                                                                            4 * params]:
        raise AssertionError("linear_cost is not exact for a layer too large to build: compute the counts "
                             "from the sizes, without building a layer or calling effnn.measure")
    _expects_error(linear_cost, (0, 5, 1, True), ("ValueError",), "linear_cost with in_features=0")


def _reference_mask(w, amount):
    """The expected mask: zero the round(amount*n) smallest |w|, ties broken by position (stable sort)."""
    n = int(round(amount * w.numel()))
    mask = torch.ones(w.numel())
    if n:
        mask[torch.argsort(w.abs().flatten(), stable=True)[:n]] = 0
    return mask.view_as(w)


def check_magnitude_mask(k):
    """The mask zeroes exactly the round(s*n) smallest |w| (ties: earlier first), keeps the shape, rejects bad s."""
    magnitude_mask = k.arg("magnitude_mask")
    gen = torch.Generator().manual_seed(777)
    shapes = [(13, 7), (5, 3, 3, 3), (101,), (4, 33)]
    for shape, s in zip(shapes, (0.0, 0.37, 0.5, 0.91)):
        w = torch.randn(*shape, generator=gen)
        w_in_kernel = k.put(w)
        mask = _tensor(_call(magnitude_mask, w_in_kernel, s, what="magnitude_mask"), "magnitude_mask's result")
        if mask.shape != w.shape:
            raise AssertionError("magnitude_mask must return a tensor with the weight's shape")
        if not torch.equal(k.value(w_in_kernel), w):
            raise AssertionError("magnitude_mask must not modify the weight it is given")
        m = mask.float()
        if not torch.all((m == 0) | (m == 1)):
            raise AssertionError("the mask must contain only 0 and 1")
        if int((m == 0).sum()) != int(round(s * w.numel())):
            raise AssertionError("the mask removes the wrong number of weights for some amounts")
        if not torch.equal(m, _reference_mask(w, s)):
            raise AssertionError("the mask removes weights that are not the smallest in magnitude")
    # weights that take few values (as after quantization) tie in magnitude: the earlier one goes first
    for shape, s in (((12, 10), 0.3), ((4, 3, 3, 3), 0.55), ((257,), 0.8), ((6, 40), 0.5)):
        w = torch.randint(-4, 5, shape, generator=gen).float() / 4
        mask = _tensor(_call(magnitude_mask, k.put(w), s, what="magnitude_mask"), "magnitude_mask's result")
        want = _reference_mask(w, s)
        if mask.shape != w.shape or not torch.equal(mask.float(), want):
            removed = w.abs().flatten()[mask.float().flatten() == 0].sort().values if mask.shape == w.shape else None
            if removed is not None and torch.equal(removed, w.abs().flatten()[want.flatten() == 0].sort().values):
                raise AssertionError("with equal magnitudes the mask does not remove the earlier weight first "
                                     "(in weight.flatten() order)")
            raise AssertionError("the mask removes weights that are not the smallest in magnitude "
                                 "when several weights have the same magnitude")
    for bad in (-0.1, 1.0, 1.5):
        _expects_error(magnitude_mask, (torch.randn(3, 3), bad), ("ValueError",),
                       f"magnitude_mask with amount={bad}")
    _expects_error(magnitude_mask, ([1.0, 2.0], 0.5), ("TypeError",), "magnitude_mask with a list instead of a tensor")


def _net(seed):
    """A seeded conv + two-linear network, the model every mask check prunes."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 20), nn.ReLU(),
                         nn.Linear(20, 10))


def _net_in_kernel(k, net):
    """The same small network, built in the kernel from torch's classes, with ``net``'s weights."""
    layers = [k.build("torch.nn.Conv2d", 1, 4, 3), k.build("torch.nn.ReLU"), k.build("torch.nn.Flatten"),
              k.build("torch.nn.Linear", 4 * 6 * 6, 20), k.build("torch.nn.ReLU"), k.build("torch.nn.Linear", 20, 10)]
    remote = k.build("torch.nn.Sequential", *layers)
    remote.load_state_dict(net.state_dict())
    return remote


def _prunable(net):
    """``{name: layer}`` of the Linear/Conv2d layers, the ones the exercise masks."""
    return {n: m for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def check_global_masks(k):
    """One magnitude threshold across layers removes the requested fraction (ties in order); masks by name."""
    global_magnitude_masks = k.arg("global_magnitude_masks")
    for seed, s in ((31, 0.6), (32, 0.85)):
        net = _net(seed)
        with torch.no_grad():
            net[3].weight.mul_(0.2)  # layers on different scales: global != per-layer
        masks = _call(global_magnitude_masks, _net_in_kernel(k, net), s, what="global_magnitude_masks")
        layers = _prunable(net)
        if not isinstance(masks, dict) or set(masks) != set(layers):
            raise AssertionError("global_magnitude_masks must return one mask per Linear/Conv2d module, "
                                 "keyed by the module's name in named_modules()")
        for n, m in layers.items():
            if not isinstance(masks[n], torch.Tensor) or masks[n].shape != m.weight.shape:
                raise AssertionError("each mask must be a tensor with the shape of its module's weight")
        names = sorted(layers)
        weights = torch.cat([layers[n].weight.detach().abs().flatten() for n in names])
        kept = torch.cat([masks[n].float().flatten() for n in names])
        if not torch.all((kept == 0) | (kept == 1)):
            raise AssertionError("the masks must contain only 0 and 1")
        if int((kept == 0).sum()) != int(round(s * weights.numel())):
            raise AssertionError("the global masks do not remove the requested fraction of all weights")
        if weights[kept == 1].min() < weights[kept == 0].max():
            raise AssertionError("a removed weight is larger than a kept one: use one threshold across layers")
    # quantized weights tie in magnitude: ties go in named_modules() order, then weight.flatten() order
    for seed, s in ((41, 0.5), (42, 0.7)):
        net = _net(seed)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in _prunable(net).values():
                m.weight.copy_(torch.randint(-3, 4, m.weight.shape, generator=gen).float() / 8)
        masks = _call(global_magnitude_masks, _net_in_kernel(k, net), s, what="global_magnitude_masks")
        layers = _prunable(net)
        if not isinstance(masks, dict) or set(masks) != set(layers):
            raise AssertionError("global_magnitude_masks must return one mask per Linear/Conv2d module, "
                                 "keyed by the module's name in named_modules()")
        flat = torch.cat([m.weight.detach().flatten() for m in layers.values()])
        want, start = _reference_mask(flat, s), 0
        for n, m in layers.items():
            got = masks[n]
            if not isinstance(got, torch.Tensor) or got.shape != m.weight.shape:
                raise AssertionError("each mask must be a tensor with the shape of its module's weight")
            if not torch.equal(got.float().flatten(), want[start:start + m.weight.numel()]):
                raise AssertionError("with equal magnitudes the global masks do not remove the earlier weight "
                                     "first (modules in named_modules() order, then weight.flatten() order)")
            start += m.weight.numel()
    _expects_error(global_magnitude_masks, (_net_in_kernel(k, _net(1)), 1.0), ("ValueError",),
                   "global_magnitude_masks with amount=1.0")


def _computes_with(remote, net, masks, x, message: str) -> None:
    """Mask ``net`` here (in place) and require the kernel's model to give its output on ``x``."""
    with torch.no_grad():
        for n, m in _prunable(net).items():
            m.weight.mul_(masks[n])
        want = net(x)
    got = _tensor(_call(remote, x, what="the pruned model"), "the pruned model's output")
    if got.shape != want.shape or not torch.allclose(got, want, atol=1e-6):
        raise AssertionError(message)


def check_apply_masks(k):
    """Masks are attached in place through torch.nn.utils.prune, accumulate, and the model computes with them."""
    apply_masks = k.arg("apply_masks")
    net = _net(5)
    gen = torch.Generator().manual_seed(55)
    masks = {n: (torch.rand(m.weight.shape, generator=gen) > 0.7).float() for n, m in _prunable(net).items()}
    x = torch.randn(3, 1, 8, 8, generator=gen)
    remote = _net_in_kernel(k, net)
    out = _call(apply_masks, remote, masks, what="apply_masks")
    if not k.same(out, remote):
        raise AssertionError("apply_masks should prune the model in place and return it")
    state = k.value(remote.state_dict())
    for n, m in _prunable(net).items():
        if f"{n}.weight_mask" not in state or f"{n}.weight_orig" not in state:
            raise AssertionError("apply_masks must use torch.nn.utils.prune so the masks stay attached")
        if not torch.equal(state[f"{n}.weight_mask"], masks[n]):
            raise AssertionError("a module carries a different mask than the one given")
        if not torch.equal(state[f"{n}.weight_orig"], m.weight.detach()):
            raise AssertionError("apply_masks changed the weights themselves: the mask belongs beside them")
    _computes_with(remote, net, masks, x, "the pruned model's output is not that of the masked weights")
    # pruning only removes: masks applied to an already pruned model keep the earlier zeros
    more = {n: (torch.rand(m.weight.shape, generator=gen) > 0.4).float() for n, m in _prunable(net).items()}
    _call(apply_masks, remote, more, what="apply_masks on an already pruned model")
    state = k.value(remote.state_dict())
    for n in _prunable(net):
        if not torch.equal(state.get(f"{n}.weight_mask", torch.empty(0)), masks[n] * more[n]):
            raise AssertionError("applying masks to an already pruned model must keep the zeros it has "
                                 "(masks accumulate)")
    _computes_with(remote, net, more, x,
                   "after a second apply_masks the model's output is not that of the masked weights")
