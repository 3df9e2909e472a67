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


def test_paper_is_the_official_recipe():
    cfg = cmc.config("two_view", "paper")
    official = dict(K=16384, tau=0.07, momentum=0.5, out_dim=128, batch_size=128, epochs=240, lr=0.03,
                    weight_decay=1e-4, lr_milestones=[120, 160, 200], lr_decay=0.1, crop_scale=0.2, views="L|ab")
    assert {k: cfg[k] for k in official} == official
