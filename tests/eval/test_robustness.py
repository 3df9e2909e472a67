"""mCE of Hendrycks & Dietterich on a hand-computed example, and its input checks."""
import pytest

from reprobook.data import BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS
from reprobook.eval import corruption_errors, mean_corruption_error


def example():
    """Top-1 % accuracies: the model errs 20 + s % on every benchmark corruption but fog (40 + s %)
    and 10 + s % on the extra ones; the baseline errs 30 + 2 s % everywhere."""
    model, base = {}, {}
    for c in CORRUPTIONS:
        for s in range(1, 6):
            err = 40 + s if c == "fog" else 10 + s if c in EXTRA_CORRUPTIONS else 20 + s
            model[(c, s)] = 100 - err
            base[(c, s)] = 100 - (30 + 2 * s)
    return model, base


def test_corruption_errors():
    model, _ = example()
    e = corruption_errors(model)
    assert e[("contrast", 1)] == 21 and e[("fog", 5)] == 45 and e[("spatter", 3)] == 13
    assert corruption_errors({("fog", 2): 0.25}, scale=1) == {("fog", 2): 0.75}


def test_mean_corruption_error_by_hand():
    model, base = example()
    r = mean_corruption_error(corruption_errors(model), corruption_errors(base))
    # CE = sum_s (20 + s) / sum_s (30 + 2 s) = 115 / 180; fog 215 / 180; the extra ones 65 / 180
    assert r.ce["contrast"] == pytest.approx(115 / 180) and r.ce["fog"] == pytest.approx(215 / 180)
    assert r.ce["saturate"] == pytest.approx(65 / 180)
    assert r.mce == pytest.approx((14 * 115 + 215) / (15 * 180))           # 0.6759...: 67.6 % in the paper's units
    assert r.extra_mce == pytest.approx(65 / 180)
    assert list(r.ce) == list(CORRUPTIONS) and r.relative_ce is None and r.relative_mce is None


def test_relative_mean_corruption_error_by_hand():
    model, base = example()
    r = mean_corruption_error(corruption_errors(model), corruption_errors(base), clean_error=15,
                              baseline_clean_error=25)
    # relative CE = sum_s (20 + s - 15) / sum_s (30 + 2 s - 25) = 40 / 55; fog 140 / 55; extra -10 / 55
    assert r.relative_ce["contrast"] == pytest.approx(40 / 55) and r.relative_ce["fog"] == pytest.approx(140 / 55)
    assert r.relative_mce == pytest.approx((14 * 40 + 140) / (15 * 55))
    assert r.extra_relative_mce == pytest.approx(-10 / 55)       # below its clean error: negative
    assert r.mce == pytest.approx((14 * 115 + 215) / (15 * 180))


def test_the_baseline_scores_one():
    _, base = example()
    e = corruption_errors(base)
    r = mean_corruption_error(e, e, clean_error=10, baseline_clean_error=10)
    assert r.mce == pytest.approx(1) and r.extra_mce == pytest.approx(1) and r.relative_mce == pytest.approx(1)


def test_benchmark_only_and_checks():
    model, base = example()
    bench = {k: v for k, v in corruption_errors(model).items() if k[0] in BENCHMARK_CORRUPTIONS}
    r = mean_corruption_error(bench, corruption_errors(base))
    assert r.extra_mce is None and set(r.ce) == set(BENCHMARK_CORRUPTIONS)
    e, b = corruption_errors(model), corruption_errors(base)
    with pytest.raises(ValueError, match="'fog' lacks severities \\[3\\]"):
        mean_corruption_error({k: v for k, v in e.items() if k != ("fog", 3)}, b)
    with pytest.raises(ValueError, match="missing \\['snow'\\]"):
        mean_corruption_error({k: v for k, v in e.items() if k[0] != "snow"}, b)
    with pytest.raises(ValueError, match="baseline_errors lacks \\['spatter'\\]"):
        mean_corruption_error(e, {k: v for k, v in b.items() if k[0] != "spatter"})
    with pytest.raises(ValueError, match="give both"):
        mean_corruption_error(e, b, clean_error=3)
    with pytest.raises(ValueError, match="denominator"):
        mean_corruption_error(e, {k: 0.0 for k in b})
    with pytest.raises(ValueError, match="unknown corruption 'rain'"):
        corruption_errors({("rain", 1): 50})
    with pytest.raises(ValueError, match="severity must be 1..5"):
        corruption_errors({("fog", 0): 50})
    with pytest.raises(ValueError, match="outside"):
        corruption_errors({("fog", 1): 101})


def test_relative_ce_is_nan_where_the_baseline_does_not_degrade():
    """Small smoke test sets: a mild corruption may not raise the baseline's error at all."""
    import math

    model, base = example()
    e, b = corruption_errors(model), corruption_errors(base)
    r = mean_corruption_error(e, b, clean_error=15, baseline_clean_error=40)   # baseline errors 30 + 2 s < 40
    assert math.isnan(r.relative_ce["contrast"]) and math.isnan(r.relative_mce)
    assert not math.isnan(r.mce)
