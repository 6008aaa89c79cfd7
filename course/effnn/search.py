"""Automated compression: per-layer pruning amounts found by Optuna under a MAC budget, and
learning-curve extrapolation to stop bad runs early.

AMC (He et al. 2018) showed that the best amount differs per layer and searched it with an agent under
a FLOPs constraint. Here the agent is Optuna's TPE sampler: a trial proposes a *preference* per layer,
the preferences are scaled by one factor so the network lands exactly on the MAC budget
(:func:`keep_for_budget`), the model is pruned for real with ``effnn.structured.prune_channels`` and
scored. Uniform pruning is the special case "all preferences equal", so the three strategies
(uniform, global, searched) are compared at the same measured budget.

Trials are logged offline in Optuna's own journal file (``JournalFileBackend``): the study can be
reloaded and inspected later like an experiment tracker's run history.

Vocabulary: a layer's *keep fraction* ``k`` is what AMC's agent sets (the channels preserved); the
amount removed is ``1 - k``, what :func:`effnn.structured.prune_channels` takes. Every pruning
function here returns a pruned *copy* and leaves ``model`` unchanged (a search tries many models).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import config
from ._deprecate import renamed_function, renamed_kwargs
from . import validate as V
from .measure import count_macs
from .structured import output_layers, prune_channels


@dataclass
class ChainLayer:
    """One prunable layer: its name, dense MACs and output channels.

    Args:
        name: the layer's module name.
        macs: its dense MACs on the example batch.
        channels: its output channels (or features).

    >>> ChainLayer("conv1", macs=1000, channels=8).channels
    8
    """
    name: str
    macs: int
    channels: int


class MacModel:
    """Predict the MACs of a *chain* network (each prunable layer feeds the next) from per-layer
    keep fractions: :math:`\\sum_l M_l\\,k_{l-1}k_l + M_{rest}`, since a conv or linear layer's MACs
    are proportional to its input times its output channels. The real count is always re-measured
    after pruning; this only steers the budget search without pruning hundreds of copies.
    ``total`` holds the measured MACs.

    Args:
        model: read (put in eval mode, weights unchanged); it needs a prunable conv/linear layer
            besides the output layers.
        example_inputs: one non-empty input tensor; MACs are counted for this batch.

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> mm = MacModel(m, x); mm.names, mm.total, float(mm.estimate([0.5, 0.5]))
    (['0', '2'], 12064, 3728.0)
    """

    @renamed_kwargs(example_input="example_inputs")
    def __init__(self, model: nn.Module, example_inputs):
        V.module(model, "model")
        V.tensor(example_inputs, "example_inputs", min_numel=1)
        self.total = count_macs(model, example_inputs)
        self.outputs = set(output_layers(model, example_inputs))
        inputs: dict[nn.Module, torch.Tensor] = {}

        def record(mod, inp, _out):  # must return None, or the hook would replace the output
            inputs.setdefault(mod, inp[0][:1])

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        try:
            with torch.no_grad():
                model.eval()(example_inputs)
        finally:
            for h in hooks:
                h.remove()
        names = {m: n for n, m in model.named_modules()}
        order = list(inputs)  # forward order
        self.layers = [ChainLayer(names[m], count_macs(m, inputs[m]) * len(example_inputs),
                                  m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)
                       for m in order]
        self.prunable = [i for i, m in enumerate(order) if m not in self.outputs]
        if not self.prunable:
            raise ValueError(f"model ({type(model).__name__}) has no prunable conv/linear layer "
                             "(only output layers): nothing to search over")
        self.rest = self.total - sum(layer.macs for layer in self.layers)

    @property
    def names(self) -> list[str]:
        """Names of the prunable layers, in forward order (one keep fraction each)."""
        return [self.layers[i].name for i in self.prunable]

    def estimate(self, keep) -> float:
        """Predicted MACs when prunable layer ``i`` keeps ``keep[i]`` (in (0, 1]) of its channels."""
        keep = _keep_list(keep, len(self.prunable))
        per_layer = np.ones(len(self.layers))
        per_layer[self.prunable] = keep
        k_in, total = 1.0, float(self.rest)
        for layer, k_out in zip(self.layers, per_layer):
            total += layer.macs * k_in * k_out
            k_in = k_out
        return total


def _keep_list(keep, n: int, name: str = "keep") -> list[float]:
    if isinstance(keep, np.ndarray):
        keep = keep.tolist()
    if isinstance(keep, (str, bytes)) or not isinstance(keep, (list, tuple)):
        raise TypeError(f"{name} must be a list of fractions, got {type(keep).__name__}")
    if len(keep) != n:
        raise ValueError(f"{name} must have {n} values (one per prunable layer), got {len(keep)}")
    return [V.number(k, f"{name}[{i}]", low=0, high=1, low_open=True) for i, k in enumerate(keep)]


def _mac_model(value) -> "MacModel":
    if not isinstance(value, MacModel):
        raise TypeError(f"mac_model must be an effnn.search.MacModel, got {type(value).__name__}")
    return value


def _budget(budget) -> float:
    return V.number(budget, "budget", low=0, low_open=True)


def keep_for_budget(mac_model: MacModel, preferences, budget: float, min_keep: float = 0.05) -> list[float]:
    """Keep fractions :math:`k_l = \\mathrm{clip}(t\\,p_l, k_{min}, 1)` with ``t`` found by bisection so
    the estimated MACs equal ``budget``.

    Args:
        mac_model: a :class:`MacModel` of the network.
        preferences: one number > 0 per prunable layer (only their ratios matter).
        budget: the MAC budget, a finite number > 0, at least the MACs at ``min_keep`` everywhere.
        min_keep: the floor of every keep fraction, in (0, 1].
    Returns:
        One keep fraction in ``[min_keep, 1]`` per layer of ``mac_model.names``.

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> mm = MacModel(m, x); [round(k, 3) for k in keep_for_budget(mm, [1.0, 1.0], mm.total / 2)]
    [0.669, 0.669]
    """
    _mac_model(mac_model)
    prefs = np.asarray(_prefs(preferences, len(mac_model.prunable)), dtype=float)
    budget = _budget(budget)
    min_keep = V.number(min_keep, "min_keep", low=0, high=1, low_open=True)
    lowest = mac_model.estimate([min_keep] * len(prefs))
    if not lowest <= budget:
        raise ValueError(f"budget={budget:.0f} MACs is below the smallest reachable ({lowest:.0f})")
    lo, hi = 0.0, 1.0 / prefs.min()
    for _ in range(60):
        t = (lo + hi) / 2
        if mac_model.estimate(np.clip(t * prefs, min_keep, 1.0)) > budget:
            hi = t
        else:
            lo = t
    return np.clip(lo * prefs, min_keep, 1.0).tolist()


def _prefs(preferences, n: int) -> list[float]:
    if isinstance(preferences, np.ndarray):
        preferences = preferences.tolist()
    if isinstance(preferences, (str, bytes)) or not isinstance(preferences, (list, tuple)):
        raise TypeError(f"preferences must be a list of numbers, got {type(preferences).__name__}")
    if len(preferences) != n:
        raise ValueError(f"preferences must have {n} values (one per prunable layer), got {len(preferences)}")
    out = [V.number(p, f"preferences[{i}]") for i, p in enumerate(preferences)]
    if any(p <= 0 for p in out):
        raise ValueError("preferences must be > 0")
    return out


@renamed_kwargs(example_input="example_inputs")
def prune_to_keep(model: nn.Module, example_inputs, mac_model: MacModel, keep, importance: str = "l2") -> nn.Module:
    """A pruned copy of ``model`` with layer ``i`` keeping about ``keep[i]`` of its channels.

    ``keep`` has exactly one fraction in (0, 1] per prunable layer (``mac_model.names``).

    Args:
        model: copied, not changed.
        example_inputs: one non-empty input tensor (torch-pruning traces with it).
        mac_model: the :class:`MacModel` of ``model``.
        keep: one fraction in (0, 1] per prunable layer; amounts removed are capped at 0.95.
        importance: a :func:`effnn.structured.make_importance` name, e.g. ``"l2"``.
    Returns:
        The pruned copy.

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> p = prune_to_keep(m, x, MacModel(m, x), [0.5, 0.5]); p[0].out_channels, p[2].out_channels
    (4, 4)
    """
    from .structured import make_importance

    V.module(model, "model")
    V.tensor(example_inputs, "example_inputs", min_numel=1)
    _mac_model(mac_model)
    keep = _keep_list(keep, len(mac_model.names))
    make_importance(importance)
    pruned = copy.deepcopy(model)
    amounts = {pruned.get_submodule(name): min(0.95, max(0.0, 1.0 - k))
              for name, k in zip(mac_model.names, keep)}
    return prune_channels(pruned, example_inputs, 0.0, importance=importance, amounts=amounts)


@renamed_kwargs(example_input="example_inputs")
def prune_at_budget(model: nn.Module, example_inputs, budget: float, preferences=None, *,
                    mac_model: MacModel | None = None, importance: str = "l2") -> tuple[nn.Module, list[float]]:
    """Prune a copy with the given per-layer preferences (``None``: uniform) to at most ``budget``
    measured MACs; returns the model and the keep fractions used (a warning says when channel
    rounding left it above ``budget``).

    Args:
        model: copied, not changed.
        example_inputs: one non-empty input tensor.
        budget: the MAC budget, a finite number > 0.
        preferences: one number > 0 per prunable layer; None for uniform.
        mac_model: the :class:`MacModel` of ``model``; None builds one.
        importance: a :func:`effnn.structured.make_importance` name.
    Returns:
        ``(new_model, keep)``: the pruned copy and its keep fractions (one per prunable layer).

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> p, keep = prune_at_budget(m, x, 6032); count_macs(p, x) <= 6032, [round(k, 2) for k in keep]
    (True, [0.67, 0.67])
    """
    from .structured import make_importance

    V.module(model, "model")
    V.tensor(example_inputs, "example_inputs", min_numel=1)
    budget = _budget(budget)
    mac_model = MacModel(model, example_inputs) if mac_model is None else _mac_model(mac_model)
    make_importance(importance)
    prefs = (np.ones(len(mac_model.prunable)) if preferences is None
             else np.asarray(_prefs(preferences, len(mac_model.prunable)), float))
    target = float(budget)
    for _ in range(8):  # channel rounding can overshoot the estimate: tighten until measured fits
        keep = keep_for_budget(mac_model, prefs, target)
        pruned = prune_to_keep(model, example_inputs, mac_model, keep, importance)
        if count_macs(pruned, example_inputs) <= budget:
            return pruned, keep
        target *= 0.98
    import warnings

    warnings.warn(f"prune_at_budget missed budget={budget:.0f} MACs: the pruned model measures "
                  f"{count_macs(pruned, example_inputs)} MACs", stacklevel=2)
    return pruned, keep


@renamed_kwargs(example_input="example_inputs")
def global_at_budget(model: nn.Module, example_inputs, budget: float, importance: str = "l2",
                     steps: int = 10) -> tuple[nn.Module, float]:
    """Global pruning (one amount, layers compete on normalised importance) at the largest amount
    found by bisection whose measured MACs stay within ``budget``.

    A budget that even the most pruned model (amount 0.95) exceeds is refused with a ``ValueError``.

    Args:
        model: copied, not changed.
        example_inputs: one non-empty input tensor.
        budget: MACs, a finite number > 0.
        importance: a :func:`effnn.structured.make_importance` name.
        steps: bisection steps, an int >= 1.
    Returns:
        ``(pruned_copy, amount)``.

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> p, amount = global_at_budget(m, x, 6032, steps=3); count_macs(p, x) <= 6032, round(amount, 3)
    (True, 0.356)
    """
    from .structured import make_importance

    V.module(model, "model")
    V.tensor(example_inputs, "example_inputs", min_numel=1)
    budget = _budget(budget)
    make_importance(importance)
    steps = V.positive_int(steps, "steps")
    lo, hi, best = 0.0, 0.95, None
    for _ in range(steps):
        mid = (lo + hi) / 2
        pruned = prune_channels(copy.deepcopy(model), example_inputs, mid, importance=importance,
                                scope="global")
        if count_macs(pruned, example_inputs) <= budget:
            hi, best = mid, (pruned, mid)
        else:
            lo = mid
    if best is None:
        smallest = prune_channels(copy.deepcopy(model), example_inputs, hi, importance=importance,
                                  scope="global")
        macs = count_macs(smallest, example_inputs)
        if macs > budget:
            raise ValueError(f"budget={budget:.0f} MACs is below what global pruning reaches "
                             f"({macs} MACs at amount {hi})")
        best = (smallest, hi)
    return best


def journal_storage(path: str | Path | None = None, study_name: str = "study"):
    """Optuna's file journal (works offline, no database server); default under ``EFFNN_CACHE``.

    Args:
        path: the log file (``str`` or ``Path``; its folder is created); None for
            ``cache_dir()/optuna/<study_name>.log``.
        study_name: names the default file, a non-empty str.
    Returns:
        An ``optuna.storages.JournalStorage``, to pass to :func:`search_amounts` so a study outlives the kernel.

    >>> import tempfile; type(journal_storage(Path(tempfile.mkdtemp()) / "s.log")).__name__
    'JournalStorage'
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name must be a non-empty str, got {study_name!r}")
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = Path(path) if path is not None else config.cache_dir() / "optuna" / f"{study_name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


@renamed_kwargs(example_input="example_inputs")
def search_amounts(model: nn.Module, example_inputs, budget: float, score: Callable[[nn.Module], float], *,
                   n_trials: int = 30, seed: int = 0, storage=None, study_name: str = "amc_search",
                   low: float = 0.2, importance: str = "l2", progress: bool = True):
    """Optuna TPE over per-layer preferences in ``[low, 1]``; every trial lands on ``budget``.

    ``score(pruned_model)`` returns the value to maximise (e.g. validation accuracy after a short
    fine-tune). Trial 0 is the uniform point, so the search starts from the baseline it must beat.
    Each trial records its keep fractions and measured MACs as user attributes. A study with the
    same name in ``storage`` is replaced, so a rerun with the same seed repeats the same trials.
    ``model`` is not changed (each trial prunes a copy).
    ``search_ratios`` is this function's deprecated name.

    Args:
        model: read only; each trial prunes a copy.
        example_inputs: one non-empty input tensor.
        budget: the MAC budget, a finite number > 0.
        score: ``score(pruned_model) -> float``, maximised.
        n_trials: trials, an int >= 1.
        seed: the TPE sampler's seed, an int >= 0.
        storage: an optuna storage (e.g. :func:`journal_storage`); None keeps the study in memory.
        study_name: a non-empty str; a study of that name in ``storage`` is replaced.
        low: the lowest preference, in (0, 1).
        importance: a :func:`effnn.structured.make_importance` name.
        progress: show a progress bar over the trials.
    Returns:
        The ``optuna.Study``; user attributes ``macs_budget`` and ``layers`` on the study, ``keep``
        and ``macs`` on each trial.

    >>> _ = torch.manual_seed(0); x = torch.zeros(1, 1, 8, 8)
    >>> m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
    ...                   nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    >>> study = search_amounts(m, x, 6032, lambda p: -count_macs(p, x), n_trials=2, progress=False)
    >>> len(study.trials), study.trials[0].params, study.best_trial.user_attrs["macs"] <= 6032
    (2, {'p0': 1.0, 'p1': 1.0}, True)
    """
    import optuna

    from .train import progress_bar

    from .structured import make_importance

    V.module(model, "model")
    budget = _budget(budget)
    V.function(score, "score")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
    V.integer(seed, "seed", low=0)
    V.number(low, "low", low=0, high=1, low_open=True, high_open=True)
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name must be a non-empty str, got {study_name!r}")
    V.flag(progress, "progress")
    make_importance(importance)
    mac_model = MacModel(model, example_inputs)
    names = mac_model.names
    if storage is not None and not isinstance(storage, optuna.storages.BaseStorage):
        raise TypeError(f"storage must be an optuna storage (e.g. journal_storage()), got {type(storage).__name__}")
    storage = storage if storage is not None else optuna.storages.InMemoryStorage()
    if not isinstance(storage, optuna.storages.InMemoryStorage):
        try:
            optuna.delete_study(study_name=study_name, storage=storage)
        except KeyError:
            pass
    study = optuna.create_study(direction="maximize", study_name=study_name, storage=storage,
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, n_trials)))
    study.set_user_attr("macs_budget", float(budget))
    study.set_user_attr("layers", names)
    study.enqueue_trial({f"p{i}": 1.0 for i in range(len(names))})

    def objective(trial):
        prefs = [trial.suggest_float(f"p{i}", low, 1.0) for i in range(len(names))]
        pruned, keep = prune_at_budget(model, example_inputs, budget, prefs, mac_model=mac_model,
                                       importance=importance)
        trial.set_user_attr("keep", keep)
        trial.set_user_attr("macs", int(count_macs(pruned, example_inputs)))
        return float(score(pruned))

    bar = progress_bar(total=n_trials, desc="optuna trials", disable=not progress)
    study.optimize(objective, n_trials=n_trials, callbacks=[lambda s, t: bar.update(1)])
    bar.close()
    return study


# ------------------------------------------------------------------ learning-curve extrapolation
def _pow3(x, c, a, alpha):
    return c - a * np.power(x, -alpha)


def _exp3(x, c, a, b):
    return c - a * np.exp(-b * x)


CURVES = {"pow3": _pow3, "exp3": _exp3}


def fit_learning_curve(values, family: str = "pow3"):
    """Fit an accuracy curve ``values[e-1]`` (epochs 1..n) with a saturating parametric family.

    - ``pow3``: :math:`y = c - a\\,x^{-\\alpha}`; ``exp3``: :math:`y = c - a e^{-bx}` (two of the
      families in Domhan et al. 2015). ``c`` is the predicted asymptote.

    A run whose predicted asymptote is below the best so far can be stopped early.

    Args:
        values: at least 3 finite numbers, one per epoch from 1 (accuracies, at most about 1).
        family: ``"pow3"`` or ``"exp3"``.
    Returns:
        ``predict(epoch) -> value`` (numpy in, numpy out) with ``.params`` (``c, a, alpha`` or
        ``c, a, b``) and ``.family`` attached; without convergence it predicts ``max(values)``.

    >>> f = fit_learning_curve([0.5, 0.7, 0.78, 0.82, 0.84]); round(float(f(100)), 2), f.family
    (0.96, 'pow3')
    """
    from scipy.optimize import curve_fit

    V.choice(family, "family", sorted(CURVES))
    if isinstance(values, (str, bytes)):
        raise TypeError("values must be a sequence of numbers, got str")
    try:
        y = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"values must be a sequence of numbers, got {type(values).__name__}") from None
    if y.ndim != 1 or len(y) < 3:
        raise ValueError(f"values must be a 1-D sequence of at least 3 points, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("values must be finite (no NaN or infinity)")
    x = np.arange(1, len(y) + 1, dtype=float)
    f = CURVES[family]
    p0 = (min(1.0, y.max() + 0.02), max(1e-3, y.max() - y[0] + 0.02), 0.5)
    bounds = ([y.max() - 1e-6, 0.0, 1e-3], [1.0 + 1e-6, 10.0, 10.0])
    try:
        params, _ = curve_fit(f, x, y, p0=p0, bounds=bounds, maxfev=20000)
    except RuntimeError:  # no convergence: fall back to "no further progress"
        params = np.array([y.max(), 0.0, 1.0])

    def predict(epoch):
        return f(np.asarray(epoch, dtype=float), *params)

    predict.params = params
    predict.family = family
    return predict


#: Deprecated name of :func:`search_amounts` (one release).
search_ratios = renamed_function(search_amounts, "search_ratios")
