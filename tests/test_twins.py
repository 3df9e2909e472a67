"""Every notebook source has an executed smoke twin whose cells equal the source's."""
import pytest

from reprobook.run import notebooks as nbs
from reprobook.run.runner import twin_mismatches

REFS = nbs.notebooks()


def test_there_are_notebooks():
    assert REFS, "no notebook sources found under book/"


@pytest.mark.parametrize("ref", REFS, ids=[r.key for r in REFS])
def test_twin_matches_source(ref):
    assert twin_mismatches(ref) == []


@pytest.mark.parametrize("ref", REFS, ids=[r.key for r in REFS])
def test_parameters_cell_has_scale_and_seed(ref):
    params = nbs.parameters(ref)
    assert params.get("scale") == "smoke" and params.get("seed") == 0
