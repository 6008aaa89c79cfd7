import pytest

from effnn.structure_speed import RowTiming, time_structures


def test_rows_kept_and_macs_cut_follow_the_sparsity():
    timings = time_structures(40, [0.5, 0.75, 0.9, 0.99], batch=3, min_run_time=0.001)
    assert [t.rows_kept for t in timings] == [20, 10, 4, 1]  # 0.99 keeps at least one row
    assert [t.macs_cut for t in timings] == [2.0, 4.0, 10.0, 40.0]
    for t in timings:
        assert t.side == 40 and t.dense_ms > 0 and t.csr_ms > 0 and t.rows_ms > 0
        assert t.dense_ms <= t.dense_median_ms and t.rows_ms <= t.rows_median_ms  # fastest block <= median
        assert t.structured_speedup == pytest.approx(t.dense_ms / t.rows_ms)


def test_speedups_are_ratios_of_the_fastest_blocks():
    t = RowTiming(8, 0.5, 4, 2.0, 4.0, 1.0, 3.0, 5.0, 2.0)
    assert (t.structured_speedup, t.csr_speedup, t.macs_cut) == (2.0, 0.5, 2.0)


def test_bad_arguments_name_the_argument():
    with pytest.raises((ValueError, TypeError), match="side"):
        time_structures(0, [0.5])
    with pytest.raises((ValueError, TypeError), match="amounts"):
        time_structures(8, [1.0])
    with pytest.raises((ValueError, TypeError), match="amounts"):
        time_structures(8, [])
