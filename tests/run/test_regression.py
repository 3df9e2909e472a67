"""The notebook regression: reported numbers within measured tolerances, the rest exact."""
import json
import math

import pytest

from reprobook.run.regression import (ANY, CHECKED, check_outputs, load_tolerances, notebook_quantities,
                                      quantities, values_agree)
from reprobook.run.report import GLUE_PREFIX
from reprobook.run.spread import _round_up, measure, tolerance


def metrics_output(**metrics):
    text = "\n".join(f"{k}  {v}" for k, v in metrics.items())
    return {"output_type": "display_data", "data": {"text/plain": text},
            "metadata": {"reprobook": {"metrics": metrics}}}


def glue_output(name, value):
    return {"output_type": "display_data", "data": {GLUE_PREFIX + "text/plain": str(value)},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}}}


def table_output(name, index, columns, values):
    return {"output_type": "display_data", "data": {"text/plain": repr(values), "text/html": "<table/>"},
            "metadata": {"reprobook": {"table": {"name": name, "index": index, "columns": columns,
                                                 "values": values}}}}


def cell(**metrics):
    return [metrics_output(**metrics)] + [glue_output(k, v) for k, v in metrics.items()]


WHERE = "book/03-hypersphere/02-hypersphere-plots.ipynb, cell 8"


def test_within_tolerance_passes_and_leaves_placeholders_for_nbval():
    problems, ref, test = check_outputs(cell(acc=40.4, n=10), cell(acc=41.1, n=10), {"acc": 2.1}, WHERE)
    assert problems == []
    assert all(o["data"] == {"text/plain": CHECKED} for o in ref + test)
    assert all(o.output_type == "display_data" for o in ref + test)      # nbval reads attributes
    assert len(ref) == len(test) == 3


def test_outside_tolerance_names_notebook_cell_quantity_values_and_tolerance():
    problems, _, _ = check_outputs(cell(acc=40.4), cell(acc=30.1), {"acc": 2.1}, WHERE)
    assert len(problems) == 1                      # the glued copy is not reported twice
    msg = problems[0]
    for part in (WHERE, "acc", "twin 40.4", "new 30.1", "10.3", "<= 2.1"):
        assert part in msg, (part, msg)


def test_without_a_tolerance_a_number_compares_exactly():
    problems, _, _ = check_outputs(cell(limit=-0.7334), cell(limit=-0.7335), {}, WHERE)
    assert problems and "exactly" in problems[0]
    assert check_outputs(cell(limit=-0.7334), cell(limit=-0.7334), {}, WHERE)[0] == []


def test_labels_compare_exactly_unless_marked_any():
    a, b = cell(ranking="simclr > supcon"), cell(ranking="supcon > simclr")
    assert check_outputs(a, b, {}, WHERE)[0]
    assert check_outputs(a, b, {"ranking": ANY}, WHERE)[0] == []


def test_metric_order_does_not_matter():
    """nbformat stores output metadata with sorted keys; a fresh run keeps insertion order."""
    twin = [metrics_output(a=1.0, b=2.0)]
    new = [metrics_output(b=2.0, a=1.0)]
    assert check_outputs(twin, new, {}, WHERE)[0] == []


def test_different_metric_names_or_counts_fail():
    assert check_outputs(cell(acc=1.0), cell(accuracy=1.0), {"acc": 5}, WHERE)[0]
    assert check_outputs(cell(acc=1.0), [], {"acc": 5}, WHERE)[0]


def test_log2_shift_of_a_loss_is_caught_by_a_measured_tolerance():
    """The issue's mutation: uniformity reported log 2 higher, training unchanged."""
    twin = cell(uniform_supervised=-1.22, uniform_contrastive=-1.14)
    shifted = cell(uniform_supervised=round(-1.22 + math.log(2), 2), uniform_contrastive=round(-1.14 + math.log(2), 2))
    problems, _, _ = check_outputs(twin, shifted, {"uniform_supervised": 0.05, "uniform_contrastive": 0.06}, WHERE)
    assert len(problems) == 2 and all("uniform_" in p for p in problems)


def test_table_columns_use_their_own_tolerance_and_labels_stay_exact():
    ref = [table_output("results", ["random", "contrastive"], ["align", "probe_acc"], [[0.034, 33.8], [0.694, 44.0]])]
    near = [table_output("results", ["random", "contrastive"], ["align", "probe_acc"], [[0.034, 33.8], [0.71, 45.1]])]
    tol = {"results.align": 0.05, "results.probe_acc": 2.0}
    assert check_outputs(ref, near, tol, WHERE)[0] == []
    far = [table_output("results", ["random", "contrastive"], ["align", "probe_acc"], [[0.034, 33.8], [0.71, 12.0]])]
    problems = check_outputs(ref, far, tol, WHERE)[0]
    assert len(problems) == 1 and "results.probe_acc [row contrastive]" in problems[0]
    relabelled = [table_output("results", ["random", "supervised"], ["align", "probe_acc"], [[0.034, 33.8], [0.694, 44.0]])]
    assert "structure" in check_outputs(ref, relabelled, tol, WHERE)[0][0]


def test_nan_equals_nan_only():
    assert values_agree(float("nan"), float("nan"), None)
    assert not values_agree(float("nan"), 1.0, 10.0)


def test_a_quantity_reported_twice_in_a_notebook_is_refused():
    nb = {"cells": [{"outputs": [metrics_output(acc=1.0)]}, {"outputs": [metrics_output(acc=2.0)]}]}
    with pytest.raises(ValueError, match="acc is reported twice"):
        notebook_quantities(nb)


def test_infinities_and_booleans():
    assert values_agree(float("inf"), float("inf"), 0.1)
    assert not values_agree(True, 1, None) and not values_agree(1, True, 5)


def test_quantities_of_metrics_and_tables():
    outs = [metrics_output(a=1.0, b="x"), table_output("t", ["r1", "r2"], ["c"], [[1.5], [2.5]])]
    assert quantities(outs) == {"a": [1.0], "b": ["x"], "t.c": [1.5, 2.5]}


def test_tolerance_rule():
    assert tolerance([40.4], [[40.4], [40.4]]) is None                       # never moved: exact
    assert tolerance(["a > b"], [["a > b"], ["b > a"]]) == ANY               # a label moved
    # values 40.4, 39.9, 40.7, 41.1: mean 40.525, sd 0.5058 -> 0.125 + 4 x 0.5058 = 2.148 -> 2.2
    assert tolerance([40.4], [[39.9], [40.7], [41.1]]) == pytest.approx(2.2)
    # rows: only the first moved; 0.41, 0.41, 0.42: 0.0033 + 4 x 0.00577 = 0.0264 -> 0.027
    assert tolerance([0.41, 0.5], [[0.41, 0.5], [0.42, 0.5]]) == pytest.approx(0.027)
    assert tolerance([1.67], [[1.67], [1.68]]) == pytest.approx(0.027)     # never below the resolution
    assert _round_up(0.0432) == pytest.approx(0.044) and _round_up(2.11) == pytest.approx(2.2)


def test_measure_keeps_only_quantities_that_moved(tmp_path):
    class Ref:
        key = "ch/nb"
    obs = {"default": {"quantities": {"acc": [40.4], "n": [10]}},
           "threads1": {"quantities": {"acc": [40.7], "n": [10]}}}
    entries = measure(Ref, obs, {"acc": [40.4], "n": [10]})
    assert list(entries) == ["acc"] and entries["acc"]["seen"] == {"default": 40.4, "threads1": 40.7}
    with pytest.raises(ValueError, match="not reported under threads1"):
        measure(Ref, {"threads1": {"quantities": {}}}, {"acc": [40.4]})


def test_load_tolerances(tmp_path):
    nb = tmp_path / "01-x.ipynb"
    assert load_tolerances(nb) == {}
    (tmp_path / "tolerances.json").write_text(json.dumps(
        {"notebooks": {"01-x": {"acc": {"tol": 2.1}, "rank": {"tol": "any"}}}}))
    assert load_tolerances(nb) == {"acc": 2.1, "rank": "any"}
    (tmp_path / "tolerances.json").write_text(json.dumps({"notebooks": {"01-x": {"acc": {"tol": -1}}}}))
    with pytest.raises(ValueError, match="tolerance of 'acc'"):
        load_tolerances(nb)
    (tmp_path / "tolerances.json").write_text("{not json")
    with pytest.raises(ValueError, match="reprobook tolerances"):
        load_tolerances(nb)


def test_tolerances_were_measured_on_the_current_twins():
    """A tolerance belongs to the twin it was measured against: when a twin's trained numbers
    change (`make golden` after a change of code or configuration), its chapter's tolerances must
    be measured again (`make tolerances CH=...`), and a quantity no notebook reports any more is
    a leftover."""
    from reprobook.run import notebooks as nbs
    from reprobook.run.regression import tolerances_path

    for ref in nbs.notebooks():
        if not ref.twin.exists():
            continue
        reported = notebook_quantities(ref.twin)
        stale = set(load_tolerances(ref.twin)) - set(reported)
        assert not stale, f"{ref.key}: tolerances for quantities it does not report: {sorted(stale)}"
        path = tolerances_path(ref.twin)
        entries = json.loads(path.read_text())["notebooks"].get(ref.name, {}) if path.exists() else {}
        for quantity, entry in entries.items():
            if isinstance(entry, dict) and "twin" in entry:
                twin = entry["twin"] if isinstance(entry["twin"], list) else [entry["twin"]]
                assert twin == reported[quantity], (
                    f"{ref.key}: {quantity} was measured against twin value {entry['twin']} but the twin "
                    f"now reports {reported[quantity]}: run `make tolerances CH={ref.chapter}/{ref.name[:2]}`")


def test_resolution_of_values_in_scientific_notation():
    assert tolerance([1e-05], [[2e-05], [1e-05]]) < 1e-4


def test_a_column_with_steady_nans_keeps_a_numeric_tolerance():
    # row 0: 1.0, 1.1, 0.9 -> 0 + 4 x 0.1 = 0.4; row 2: 0.033 + 4 x 0.058 = 0.26; the NaN row is skipped
    assert tolerance([1.0, None, 2.0], [[1.1, None, 2.0], [0.9, None, 2.1]]) == pytest.approx(0.4)
    assert tolerance([1.0, None], [[1.0, 3.0], [1.0, None]]) == ANY        # a NaN that comes and goes
