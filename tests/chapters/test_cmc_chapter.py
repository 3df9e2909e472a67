"""The CMC chapter module on tiny synthetic data: every code path, the paper recipe pinned."""
import pytest

from reprobook.chapters import cmc


def tiny_cfg(**kw):
    settings = dict(encoder={"name": "small", "width": 4, "stem_stride": 2}, K=16, epochs=1, batch_size=10,
                    probe_epochs=2)
    return cmc.config("two_view", "smoke", **{**settings, **kw})


@pytest.mark.parametrize("views,criterion,graph", [("L|ab", "nce", "core"), ("Y|CbCr", "softmax", "core"),
                                                   ("L|a|b", "nce", "full")])
def test_train_and_evaluate_every_view_set(tiny_data, views, criterion, graph):
    cfg = tiny_cfg()
    trained = cmc.train(cfg, tiny_data, views=views, criterion=criterion, graph=graph, progress=False)
    assert len(trained.history) == 1 and trained.hparams["criterion"] == criterion
    result = cmc.evaluate(trained, tiny_data, cfg)
    names = views.split("|")
    assert set(result) >= {f"probe_{n}" for n in names} | {"probe_concat"}
    assert all(0 <= result[f"probe_{n}"] <= 100 for n in names)


def test_zero_epochs_is_the_random_reference(tiny_data):
    trained = cmc.train(tiny_cfg(), tiny_data, epochs=0, progress=False)
    assert trained.contrast is None and trained.history == []


def test_too_many_negatives_for_the_data_is_a_clear_error(tiny_data):
    with pytest.raises(ValueError, match="K = 64 negatives need more than 64 training images"):
        cmc.train(tiny_cfg(K=64), tiny_data, progress=False)


def test_supervised_reference_trains_the_same_encoders(tiny_data):
    cfg = tiny_cfg()
    trained = cmc.supervised(cfg, tiny_data, progress=False)
    assert trained.hparams["criterion"] == "cross-entropy" and len(trained.history) == 1
    assert "acc" in trained.history[0]
    result = cmc.evaluate(trained, tiny_data, cfg)
    assert {"probe_L", "probe_ab", "probe_concat"} <= set(result)


def test_notebook_runners_give_one_row_per_model(tiny_data):
    cfg = cmc.config("views", "smoke", **{"encoder": {"name": "small", "width": 4, "stem_stride": 2}, "K": 16,
                                          "epochs": 1, "batch_size": 10, "probe_epochs": 2,
                                          "view_sets": [("L|ab", "core"), ("L|a|b", "full")]})
    rows = cmc.run_views(cfg, tiny_data, progress=False)
    assert [(r["n_views"], r["graph"]) for r in rows] == [(2, "core"), (3, "full")]
    assert "probe_b" in rows[1] and "probe_L" in rows[0]
    cfg = cmc.config("spaces", "smoke", **{"encoder": {"name": "small", "width": 4, "stem_stride": 2}, "K": 16,
                                           "epochs": 1, "batch_size": 10, "probe_epochs": 2, "spaces": ["Y|CbCr"]})
    (row,) = cmc.run_spaces(cfg, tiny_data, progress=False)
    assert row["split"] == "Y|CbCr" and 0 <= row["correlation"] <= 1


def test_view_correlation_closed_forms():
    import torch

    grey = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8).expand(4, 3, 8, 8)
    assert cmc.view_correlation(grey, "R|GB") == pytest.approx(1.0)           # identical channels
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=g)
    assert cmc.view_correlation(noise, "R|GB") < 0.02                          # independent channels
    with pytest.raises(ValueError, match="at least two views"):
        cmc.view_correlation(noise, "Lab")


def test_sweep_entries_of_the_wrong_form_are_clear_errors(tiny_data):
    with pytest.raises(ValueError, match=r"\(views, graph\) pairs"):
        cmc.run_views(cmc.config("views", "smoke", view_sets=["L|ab"]), tiny_data, progress=False)
    with pytest.raises(ValueError, match="two-view splits"):
        cmc.run_spaces(cmc.config("spaces", "smoke", spaces=["L|a|b"]), tiny_data, progress=False)


def test_every_notebook_config_exists_at_every_scale():
    for notebook in ("method", "two_view", "views", "spaces"):
        for scale in ("smoke", "short", "paper"):
            assert cmc.config(notebook, scale).scale == scale
    assert cmc.config("views", "paper").K == 16384 and cmc.config("spaces", "paper").epochs == 240
