"""pytest plugin: nbval with the tolerances of :mod:`reprobook.run.regression`, and timings.

Loaded by ``make test`` / ``make nbval`` as ``pytest -p reprobook.run.nbval_plugin --nbval ...``.

* Reported numbers (``report``, ``table``, glue) of each cell are compared within the chapter's
  measured tolerances; the rest of the cell's outputs goes to nbval's exact comparison.
* A mismatch names the notebook, the cell, the quantity, the twin's and the new value and the
  tolerance.
* At the end, each notebook's execution time, the total and the slowest notebooks are printed.
"""
from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

from .regression import check_outputs, load_tolerances, tolerances_path

_times: dict = defaultdict(float)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def pytest_configure(config):
    # nbval starts each kernel in its notebook's folder: a relative data path must not change meaning
    from .runner import absolute_data_path

    data = absolute_data_path()
    if data:
        os.environ["REPROBOOK_DATA"] = data
    try:
        from nbval import plugin as nbval_plugin
    except ImportError:                 # pragma: no cover - nbval is in requirements.txt
        return
    cell_class = nbval_plugin.IPyNbCell
    if getattr(cell_class, "_reprobook_patched", False):
        return
    exact = cell_class.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        notebook = Path(str(self.fspath))
        where = f"{_relative(notebook, Path(str(self.config.rootdir)))}, cell {self.cell_num}"
        try:
            tolerances = load_tolerances(notebook)
        except ValueError as e:
            self.comparison_traceback = [str(e)]
            return False
        problems, ref_rest, test_rest = check_outputs(ref, test, tolerances, where)
        if problems:
            self.comparison_traceback = ["reported numbers outside their tolerance "
                                         f"(tolerances: {_relative(tolerances_path(notebook), Path.cwd())}):"]
            self.comparison_traceback += [f"  {p}" for p in problems]
            return False
        return exact(self, test_rest, ref_rest, skip_compare)

    cell_class.compare_outputs = compare_outputs
    cell_class._reprobook_patched = True


@pytest.hookimpl(tryfirst=True)       # before nbval's setup: the first cell's time includes the kernel start
def pytest_runtest_setup(item):
    item._reprobook_t0 = time.perf_counter()


@pytest.hookimpl(trylast=True)        # after the teardown: the last cell's time includes the kernel stop
def pytest_runtest_teardown(item):
    t0 = getattr(item, "_reprobook_t0", None)
    if t0 is not None and type(item).__name__ == "IPyNbCell":
        _times[str(item.fspath)] += time.perf_counter() - t0


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    root = Path(str(terminalreporter.config.rootdir))
    tr = terminalreporter
    tr.section("notebook execution times")
    for path, seconds in sorted(_times.items()):
        tr.write_line(f"{seconds:7.1f} s  {_relative(Path(path), root)}")
    total = sum(_times.values())
    slowest = sorted(_times.items(), key=lambda kv: -kv[1])[:3]
    tr.write_line(f"{total:7.1f} s  total over {len(_times)} notebooks "
                  f"(the whole smoke book should stay within about 20 minutes on 2 cores)")
    tr.write_line("slowest: " + ", ".join(f"{_relative(Path(p), root)} {s:.0f} s" for p, s in slowest))
