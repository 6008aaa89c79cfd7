"""effnn.predictor: the MLP space, its encoding, and rank agreement with bootstrap intervals."""
import numpy as np
import pytest

from effnn import predictor as PR


def test_space_size_and_order():
    space = PR.mlp_space()
    assert len(space) == 5 + 25 + 125
    assert space[0] == (16,) and space[-1] == (256, 256, 256)
    assert PR.mlp_space((2,), (8,)) == [(8, 8)]


def test_sample_is_seeded_and_distinct():
    space = PR.mlp_space()
    a = PR.sample_archs(space, 10, seed=3)
    assert a == PR.sample_archs(space, 10, seed=3) and len(set(a)) == 10
    assert a != PR.sample_archs(space, 10, seed=4)
    with pytest.raises(ValueError, match="n"):
        PR.sample_archs(space, len(space) + 1)


def test_params_and_encoding():
    assert PR.mlp_params((300, 100), 64) == 64 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    enc = PR.encode((16, 256), max_depth=3, in_features=40)
    assert enc[:4] == [2.0, 4.0, 8.0, 0.0]
    assert enc[4] == pytest.approx(np.log10(40 * 16 + 16 + 16 * 256 + 256 + 256 * 10 + 10))
    with pytest.raises(ValueError, match="max_depth"):
        PR.encode((8, 8, 8, 8))
    with pytest.raises((TypeError, ValueError), match="arch"):
        PR.encode((8, 0))


def test_rank_agreement_values():
    perfect = PR.rank_agreement([1, 2, 3, 4], [10, 20, 30, 40], n_boot=50)
    assert perfect["kendall"] == pytest.approx(1) and perfect["spearman"] == pytest.approx(1)
    assert perfect["kendall_lo"] == pytest.approx(1) and perfect["n"] == 4
    reversed_ = PR.rank_agreement([1, 2, 3, 4], [4, 3, 2, 1], n_boot=50)
    assert reversed_["kendall"] == pytest.approx(-1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    r = PR.rank_agreement(x, y, n_boot=200, seed=0)
    assert r["kendall"] == pytest.approx(0.328736, abs=1e-5)
    assert r["kendall_lo"] < r["kendall"] < r["kendall_hi"]
    assert r == PR.rank_agreement(x, y, n_boot=200, seed=0)
    assert "Kendall tau 0.33" in PR.describe("x", r)


def test_tau_difference():
    rng = np.random.default_rng(1)
    y = rng.normal(size=40)
    good, bad = y + 0.1 * rng.normal(size=40), rng.normal(size=40)
    d = PR.tau_difference(good, bad, y, n_boot=200)
    assert d["separated"] and d["lo"] > 0 and d["diff"] > 0.5
    same = PR.tau_difference(good, good, y, n_boot=50)
    assert same["diff"] == 0 and not same["separated"]


@pytest.mark.parametrize("args, err", [(([1, 2], [1, 2]), ValueError), (([1, 2, 3], [1, 2]), ValueError),
                                       (([1, 1, 1], [1, 2, 3]), ValueError), ((["a", 2, 3], [1, 2, 3]), TypeError)])
def test_rank_agreement_refuses(args, err):
    with pytest.raises(err):
        PR.rank_agreement(*args)


@pytest.mark.parametrize("call, name", [(lambda: PR.mlp_space(depths=3), "depths"), (lambda: PR.mlp_space(widths="ab"), "widths"),
                                        (lambda: PR.encode(5), "arch"), (lambda: PR.rank_agreement(5, [1, 2, 3]), "predicted"),
                                        (lambda: PR.tau_difference([1, 2, 3], None, [1, 2, 3]), "predicted_b"),
                                        (lambda: PR.rank_agreement([1, 2, 3], [3, 1, 2], n_boot=0), "n_boot")])
def test_bad_arguments_are_named(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()


def test_numpy_arrays_are_accepted():
    r = PR.rank_agreement(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]), n_boot=20)
    assert r["kendall"] == pytest.approx(1)
    assert PR.encode(np.array([16, 32]))[:3] == [2.0, 4.0, 5.0]
