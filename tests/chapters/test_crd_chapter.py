"""The CRD chapter module on tiny synthetic data: every method trains, the paper pairs are configured."""
import pytest
import torch

from reprobook.chapters import crd
from reprobook.models import DISTILL_MODELS


@pytest.fixture(autouse=True, scope="module")
def smallest_pair():
    """resnet8 as its own teacher: the smallest models, so that every method runs in seconds."""
    crd.SMOKE_PAIRS["resnet8->resnet8"] = ("resnet8", "resnet8")
    yield
    del crd.SMOKE_PAIRS["resnet8->resnet8"]


def tiny_cfg(**kw):
    settings = dict(pair="resnet8->resnet8", teacher_epochs=1, epochs=1, init_epochs=1, batch_size=10, K=8, classes=None, train_per_class=None,
                    test_per_class=None)
    return crd.config("distill", "smoke", **{**settings, **kw})


@pytest.fixture(scope="module")
def teacher(tiny_data_module):
    return crd.train_teacher(tiny_cfg(), tiny_data_module, progress=False)


@pytest.mark.parametrize("method", list(crd.METHODS))
def test_every_method_trains_a_student(tiny_data_module, teacher, method):
    student, history = crd.distill(tiny_cfg(), tiny_data_module, teacher, method, progress=False)
    assert len(history) == 1 and "ce" in history[0]
    assert ("distill" in history[0]) == (method != "student")
    assert 0 <= crd.accuracy(student, tiny_data_module) <= 100
    assert not student.training


def test_every_pair_of_the_paper_is_configured_at_paper_scale():
    assert len(crd.PAIRS) == 13
    for pair, (t, s) in crd.PAIRS.items():
        cfg = crd.config("distill", "paper", pair=pair)
        assert t in DISTILL_MODELS and s in DISTILL_MODELS
        assert crd.pair_models(cfg) == (t, s)
        official = dict(epochs=240, teacher_epochs=240, batch_size=64, weight_decay=5e-4, lr_milestones=[150, 180, 210],
                        lr_decay=0.1, K=16384, mode="exact", init_epochs=30)
        assert {k: cfg[k] for k in official} == official
        assert crd.lr_for(s, cfg) == (0.01 if s in crd.SMALL_LR_MODELS else 0.05)
    assert crd.PAPER_TABLE[("resnet32x4", "resnet8x4")]["crd"] == 75.51


def test_bad_names_are_clear_errors(tiny_data_module, teacher):
    with pytest.raises(ValueError, match="unknown pair 'a->b'"):
        crd.config("distill", "smoke", pair="a->b")
    with pytest.raises(ValueError, match="unknown methods"):
        crd.config("distill", "smoke", methods=["kd", "magic"])
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        crd.distill(tiny_cfg(), tiny_data_module, teacher, "magic", progress=False)


def test_later_notebooks_reuse_the_trained_models(tiny_data_module, tmp_path, monkeypatch):
    import reprobook.train.cache as cache

    monkeypatch.setattr(cache, "CACHE", tmp_path)
    cfg = tiny_cfg(methods=["student", "kd", "crd"])
    t1, s1, h1 = crd.teacher_and_students(cfg, tiny_data_module, progress=False)
    assert len(list(tmp_path.glob("*.pt"))) == 4                   # the teacher and three students
    t2, s2, h2 = crd.teacher_and_students(cfg, tiny_data_module, progress=False)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(s1["crd"].state_dict().values(),
                                                              s2["crd"].state_dict().values()))
    s = crd.structure(t2, s2, tiny_data_module, n_images=20)
    assert set(s["logit_corr_gap"]) == {"student", "kd", "crd"}
    assert all(-1 <= v <= 1 for v in s["similarity_corr"].values())
    assert s["gaps"]["kd"].shape == (10, 10)


def test_null_space_moves_change_structure_not_logits():
    demo = crd.null_space_demo(n=16, d=40, classes=10)
    assert demo["max_logit_change"] < 1e-9 and abs(demo["kd_before"] - demo["kd_after"]) < 1e-9
    assert demo["mean_similarity_change"] > 0.05
    with pytest.raises(ValueError, match="null space only when d > classes"):
        crd.null_space_demo(d=10, classes=10)


def test_method_table_lists_every_method_with_official_weights():
    rows = {r["method"]: r for r in crd.method_table(crd.config("method", "smoke", pair="resnet20->resnet8"))}
    assert len(rows) == len(crd.METHODS)
    assert rows["CRD"]["beta"] == 0.8 and rows["CRD + KD"]["alpha"] == 1.0 and rows["KD"]["gamma"] == 0.1
    assert rows["FT"]["init_stage"] and not rows["CRD"]["init_stage"] and rows["CRD"]["extra_params"] > 0


def test_bad_settings_are_refused_before_any_training():
    with pytest.raises(ValueError, match="unknown CRD mode 'exakt'"):
        crd.config("distill", "smoke", mode="exakt")
    with pytest.raises(TypeError, match="methods must be a list"):
        crd.config("distill", "smoke", methods="crd")
    for key, value in (("K", -5), ("K", 8.5), ("epochs", 0), ("batch_size", True)):
        with pytest.raises(ValueError, match=f"{key} must be a positive int"):
            crd.config("distill", "smoke", **{key: value})


def test_a_student_setting_does_not_retrain_the_teacher(tiny_data_module, tmp_path, monkeypatch):
    import reprobook.train.cache as cache

    monkeypatch.setattr(cache, "CACHE", tmp_path)
    crd.teacher_and_students(tiny_cfg(methods=["student"]), tiny_data_module, progress=False)
    crd.teacher_and_students(tiny_cfg(methods=["student"], epochs=2), tiny_data_module, progress=False)
    assert len(list(tmp_path.glob("*.pt"))) == 3                   # one teacher, two students


def test_degenerate_arguments_are_clear_errors(tiny_data_module, teacher):
    from reprobook.models import build_model

    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        build_model("resnet8", num_classes=0)
    with pytest.raises(ValueError, match="has 100 outputs but the data 10 classes"):
        crd.accuracy(build_model("resnet8"), tiny_data_module)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        crd.accuracy(teacher, tiny_data_module, batch_size=0)
    with pytest.raises(ValueError, match="at least 3 images"):
        crd.structure(teacher, {}, tiny_data_module, n_images=2)


def test_a_resumed_init_stage_method_skips_its_init_stage(tiny_data_module, teacher, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(crd, "fit_distill_init", lambda *a, **k: calls.append(1))
    checkpoint = tmp_path / "ft.partial.pt"
    crd.distill(tiny_cfg(), tiny_data_module, teacher, "ft", progress=False, checkpoint=checkpoint)
    assert calls == [1] and checkpoint.exists()
    crd.distill(tiny_cfg(epochs=2), tiny_data_module, teacher, "ft", progress=False, checkpoint=checkpoint)
    assert calls == [1]                               # resumed from the main stage's checkpoint
