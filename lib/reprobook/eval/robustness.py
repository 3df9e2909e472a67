r"""Corruption errors and the mean Corruption Error (mCE) of Hendrycks & Dietterich (ICLR 2019).

With :math:`E^f_{s,c}` the top-1 error of classifier :math:`f` on corruption :math:`c` at
severity :math:`s` and :math:`E^f_\mathrm{clean}` its clean error, the benchmark normalises by a
baseline classifier (AlexNet for ImageNet-C; any reference model here):

.. math::

    \mathrm{CE}^f_c = \frac{\sum_{s=1}^{5} E^f_{s,c}}{\sum_{s=1}^{5} E^\mathrm{base}_{s,c}},
    \qquad
    \text{Relative }\mathrm{CE}^f_c = \frac{\sum_{s=1}^{5} \big(E^f_{s,c} - E^f_\mathrm{clean}\big)}
                                           {\sum_{s=1}^{5} \big(E^\mathrm{base}_{s,c} - E^\mathrm{base}_\mathrm{clean}\big)},

and the mCE (relative mCE) is the mean of the CE (relative CE) over the 15 benchmark corruptions.
The 4 extra corruptions (speckle noise, Gaussian blur, spatter, saturate) are held out by the
benchmark; they are averaged separately here. Values are ratios (the baseline scores 1); the
paper prints them as percentages (x 100).

    acc = corruption_accuracy(predict, data)               # {(name, severity): top-1 %}
    report = mean_corruption_error(corruption_errors(acc), corruption_errors(acc_baseline),
                                   clean_error=100 - clean, baseline_clean_error=100 - clean_base)
    report.mce, report.extra_mce, report.relative_mce
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..data.corruptions import BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class CorruptionErrors:
    """Per-corruption CE, the mCE over the 15 benchmark corruptions and, separately, over the 4
    extra ones (None unless all four are present); the relative versions when clean errors are
    given (None otherwise)."""
    ce: dict[str, float]
    mce: float
    extra_mce: float | None
    relative_ce: dict[str, float] | None = None
    relative_mce: float | None = None
    extra_relative_mce: float | None = None


def corruption_errors(acc_by_corruption_severity: Mapping[tuple[str, int], float], *,
                      scale: float = 100.0) -> dict[tuple[str, int], float]:
    r"""Top-1 errors :math:`E_{s,c} = \mathrm{scale} - \mathrm{acc}_{s,c}` from accuracies keyed by
    ``(corruption, severity)``: percentages by default (as ``corruption_accuracy`` returns them),
    ``scale=1`` for fractions."""
    out = {}
    for key, acc in acc_by_corruption_severity.items():
        name, s = key
        if name not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
        if s not in SEVERITIES:
            raise ValueError(f"severity must be 1..5, got {s!r} for {name!r}")
        acc = float(acc)
        if not 0.0 <= acc <= scale:
            raise ValueError(f"accuracy {acc} of {key} is outside [0, {scale}]")
        out[(name, s)] = scale - acc
    return out


def _by_corruption(errors: Mapping[tuple[str, int], float], what: str) -> dict[str, list[float]]:
    """``{name: [E_1, ..., E_5]}`` for every corruption of ``errors``; all five severities needed."""
    names = [c for c in CORRUPTIONS if any(k[0] == c for k in errors)]
    unknown = {k[0] for k in errors} - set(CORRUPTIONS)
    if unknown:
        raise ValueError(f"{what}: unknown corruptions {sorted(unknown)}")
    out = {}
    for c in names:
        missing = [s for s in SEVERITIES if (c, s) not in errors]
        if missing:
            raise ValueError(f"{what}: {c!r} lacks severities {missing} (CE sums all five)")
        out[c] = [float(errors[(c, s)]) for s in SEVERITIES]
    return out


def _ratio(num: float, den: float, what: str) -> float:
    if den <= 0:
        raise ValueError(f"{what}: the baseline's denominator is {den} (must be > 0)")
    return num / den


def _relative_ratio(num: float, den: float) -> float:
    """A relative CE; NaN when the baseline does not degrade under the corruption (its summed
    errors do not exceed five times its clean error), where the ratio means nothing. Small test
    sets and weak models (smoke scale) meet that for mild corruptions; a NaN makes the relative
    mCE NaN, which says so rather than averaging a meaningless number."""
    return num / den if den > 0 else float("nan")


def _mean(values: Mapping[str, float], names) -> float:
    return sum(values[c] for c in names) / len(names)


def mean_corruption_error(errors: Mapping[tuple[str, int], float],
                          baseline_errors: Mapping[tuple[str, int], float], *,
                          clean_error: float | None = None,
                          baseline_clean_error: float | None = None) -> CorruptionErrors:
    r"""CE per corruption, mCE over the 15 benchmark corruptions, the extra corruptions' mean
    separately, and (given both clean errors) the relative CE and mCE:

    .. math::

        \mathrm{CE}_c = \frac{\sum_s E_{s,c}}{\sum_s E^\mathrm{base}_{s,c}}, \quad
        \mathrm{mCE} = \frac{1}{15}\sum_{c \in \text{benchmark}} \mathrm{CE}_c, \quad
        \text{rel. }\mathrm{CE}_c = \frac{\sum_s (E_{s,c} - E_\mathrm{clean})}
                                        {\sum_s (E^\mathrm{base}_{s,c} - E^\mathrm{base}_\mathrm{clean})}.

    ``errors`` and ``baseline_errors`` map ``(corruption, severity)`` to a top-1 error (any unit,
    the same for all; see :func:`corruption_errors`); every corruption of ``errors`` must have all
    five severities in both, and all 15 benchmark corruptions must be there.
    """
    mine, base = _by_corruption(errors, "errors"), _by_corruption(baseline_errors, "baseline_errors")
    absent = [c for c in mine if c not in base]
    if absent:
        raise ValueError(f"baseline_errors lacks {absent}")
    missing = [c for c in BENCHMARK_CORRUPTIONS if c not in mine]
    if missing:
        raise ValueError(f"the mCE needs all 15 benchmark corruptions; missing {missing}")
    if (clean_error is None) != (baseline_clean_error is None):
        raise ValueError("give both clean_error and baseline_clean_error for the relative mCE, or neither")
    ce = {c: _ratio(sum(mine[c]), sum(base[c]), f"CE of {c!r}") for c in mine}
    extras = all(c in mine for c in EXTRA_CORRUPTIONS)
    relative_ce = relative_mce = extra_relative_mce = None
    if clean_error is not None:
        e0, b0 = float(clean_error), float(baseline_clean_error)
        relative_ce = {c: _relative_ratio(sum(e - e0 for e in mine[c]), sum(b - b0 for b in base[c]))
                       for c in mine}
        relative_mce = _mean(relative_ce, BENCHMARK_CORRUPTIONS)
        extra_relative_mce = _mean(relative_ce, EXTRA_CORRUPTIONS) if extras else None
    return CorruptionErrors(ce=ce, mce=_mean(ce, BENCHMARK_CORRUPTIONS),
                            extra_mce=_mean(ce, EXTRA_CORRUPTIONS) if extras else None,
                            relative_ce=relative_ce, relative_mce=relative_mce,
                            extra_relative_mce=extra_relative_mce)
