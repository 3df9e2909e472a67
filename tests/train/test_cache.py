"""Models cached between notebooks: trained once per key, any change of key retrains."""
import torch

from reprobook.train.cache import cache_key, cached


def test_trained_once_then_loaded(tmp_path):
    calls = []

    def fit(m, checkpoint):
        assert checkpoint.name.endswith(".partial.pt")
        calls.append(1)
        with torch.no_grad():
            m.weight.fill_(3.0)
        return {"history": [{"loss": 1.5}]}

    m1, info1, hit1 = cached(torch.nn.Linear(2, 2), fit, folder=tmp_path, method="kd", seed=0)
    m2, info2, hit2 = cached(torch.nn.Linear(2, 2), fit, folder=tmp_path, method="kd", seed=0)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert torch.equal(m1.weight, m2.weight) and info2 == {"history": [{"loss": 1.5}]}
    cached(torch.nn.Linear(2, 2), fit, folder=tmp_path, method="kd", seed=1)
    assert len(calls) == 2                                   # another seed: trained again


def test_the_key_covers_parts_and_numerics(monkeypatch):
    base = cache_key("cpu", method="crd", cfg={"epochs": 8})
    assert cache_key("cpu", method="crd", cfg={"epochs": 9}) != base
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert cache_key("cpu", method="crd", cfg={"epochs": 8}) != base


def test_a_damaged_cache_file_is_a_clear_error(tmp_path):
    import pytest

    from reprobook.train.cache import CorruptCheckpointError

    m, _, _ = cached(torch.nn.Linear(2, 2), lambda m, c: {}, folder=tmp_path, method="kd")
    (path,) = tmp_path.glob("*.pt")
    for damaged in (b"", b"not a torch file" * 8, path.read_bytes()[:40]):
        path.write_bytes(damaged)
        with pytest.raises(CorruptCheckpointError, match=f"{path.name}.*delete it"):
            cached(torch.nn.Linear(2, 2), lambda m, c: {}, folder=tmp_path, method="kd")
    torch.save({"model": {"weight": torch.zeros(5)}, "info": {}}, path)          # another model's weights
    with pytest.raises(CorruptCheckpointError, match="does not hold this model"):
        cached(torch.nn.Linear(2, 2), lambda m, c: {}, folder=tmp_path, method="kd")
