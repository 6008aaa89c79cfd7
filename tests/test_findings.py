import math

import pytest

from effnn.findings import binomial_se, compare, mean_and_se, report


def test_binomial_se_exact():
    assert binomial_se(0.5, 100) == pytest.approx(0.05)
    assert binomial_se(1.0, 10) == 0.0


def test_mean_and_se_combines_seed_spread_and_test_noise():
    mean, se = mean_and_se([0.6, 0.8], 10_000)
    assert mean == pytest.approx(0.7)
    seed_var = ((0.1 ** 2) * 2 / 1) / 2  # sample variance / k
    assert se == pytest.approx(math.sqrt(seed_var + 0.7 * 0.3 / 10_000 / 2))
    assert mean_and_se(0.9, 100) == pytest.approx((0.9, 0.03))


def test_compare_separates_only_beyond_two_standard_errors():
    big = compare("ticket", [0.61, 0.61], "re-init", [0.52, 0.52], 10_000)
    assert big.separated and big.a_ahead and not big.b_ahead
    assert big.diff == pytest.approx(0.09)
    assert "ticket is ahead" in big.sentence() and "+9.0 pp" in big.sentence()
    small = compare("A", 0.90, "B", 0.89, 300)  # 1 pp on 300 images: noise
    assert not small.separated and "within noise" in str(small)
    flipped = compare("A", 0.5, "B", 0.7, 10_000)
    assert flipped.b_ahead and "B is ahead" in flipped.sentence()


def test_report_counts_separated(capsys):
    n = report(compare("a", 0.9, "b", 0.5, 1000), compare("c", 0.5, "d", 0.5, 1000))
    assert n == 1 and capsys.readouterr().out.count("\n") == 2


def test_bad_input_names_the_argument():
    with pytest.raises((ValueError, TypeError), match="n_test"):
        binomial_se(0.5, 0)
    with pytest.raises((ValueError, TypeError), match="values"):
        mean_and_se([], 10)
    with pytest.raises((ValueError, TypeError), match="acc"):
        binomial_se(1.5, 10)
