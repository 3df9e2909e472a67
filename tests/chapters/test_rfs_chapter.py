"""The RFS chapter module on tiny synthetic few-shot data: generations, the protocol's tables, errors."""
import numpy as np
import pytest
import torch

from reprobook.chapters import rfs
from reprobook.eval import mean_confidence_interval


def tiny_fewshot(name="cifar-fs", n_train_classes=6, n_test_classes=5, train_per=8, test_per=12, seed=0):
    """Random images; the novel classes get a colour each so that features can tell them apart."""
    g = torch.Generator().manual_seed(seed)
    tx = torch.randint(0, 256, (n_train_classes * train_per, 3, 32, 32), generator=g, dtype=torch.uint8)
    ty = torch.arange(n_train_classes).repeat_interleave(train_per)
    vy = torch.arange(n_test_classes).repeat_interleave(test_per)
    palette = torch.tensor([[200, 0, 0], [0, 200, 0], [0, 0, 200], [200, 200, 0], [0, 200, 200], [200, 0, 200]])
    tint = palette[torch.arange(n_test_classes) % len(palette)].float().view(-1, 3, 1, 1)[vy]   # a colour per class
    noise = torch.randint(0, 56, (len(vy), 3, 32, 32), generator=g).float()
    vx = (tint + noise).to(torch.uint8)
    return rfs.FewShotData(name, tx, ty, vx, vy, tuple(f"base{i}" for i in range(n_train_classes)),
                           tuple(f"novel{i}" for i in range(n_test_classes)), torch.device("cpu"))


def tiny_cfg(notebook="benchmark", **kw):
    settings = dict(datasets=["cifar-fs", "fc100"], model_kw={"width": 8}, epochs=1, batch_size=8,
                    lr_milestones=[1], n_episodes=4, n_query=3, shots=[1, 2], n_aug=2, generations=2)
    return rfs.config(notebook, "smoke", **{**settings, **kw})


@pytest.fixture(autouse=True)
def tiny_world(monkeypatch, tmp_path):
    """Every dataset name loads tiny synthetic data; trained models are cached in a temporary folder."""
    import reprobook.train.cache as cache

    monkeypatch.setattr(cache, "CACHE", tmp_path)
    monkeypatch.setattr(rfs, "load", lambda name, cfg, seed=0, device="auto": tiny_fewshot(name))
    return tmp_path


def test_born_again_trains_each_generation_against_the_one_before_and_caches_them(tiny_world):
    cfg = tiny_cfg()
    data = tiny_fewshot()
    models, histories = rfs.born_again(cfg, data, progress=False)
    assert len(models) == 3 and len(list(tiny_world.glob("*.pt"))) == 3
    assert "distill" not in histories[0][0] and all("distill" in h[0] for h in histories[1:])
    assert all(not m.training for m in models)
    again, histories2 = rfs.born_again(cfg, data, progress=False)
    assert histories2 == histories
    assert all(torch.equal(a, b) for a, b in zip(models[2].state_dict().values(), again[2].state_dict().values()))


def test_a_generation_and_its_teacher_must_agree():
    cfg, data = tiny_cfg(), tiny_fewshot()
    with pytest.raises(ValueError, match="generation 0 trains without a teacher"):
        rfs.train_generation(cfg, data, 1, None, progress=False)


def test_the_distilled_generation_learns_from_the_teacher(monkeypatch):
    """Generation 1's loss is gamma CE + alpha KD(T) against generation 0 (the official -r 0.5 -a 0.5)."""
    cfg, data = tiny_cfg(), tiny_fewshot()
    seen = {}
    import reprobook.chapters.rfs as module

    real = module.fit_distill

    def spy(student, teacher, distiller, *a, **kw):
        seen.update(gamma=distiller.gamma, beta=distiller.beta, alpha=distiller.alpha, T=distiller.T,
                    teacher=teacher)
        return real(student, teacher, distiller, *a, **kw)

    monkeypatch.setattr(module, "fit_distill", spy)
    teacher, _ = rfs.train_generation(cfg, data, 0, progress=False)
    rfs.train_generation(cfg, data, 1, teacher, progress=False)
    assert seen == dict(gamma=0.5, beta=0.5, alpha=0.0, T=4.0, teacher=teacher)


def test_novel_features_have_one_row_per_image_and_n_aug_augmented_copies():
    cfg, data = tiny_cfg(), tiny_fewshot()
    net = rfs.untrained(cfg, data)
    f = rfs.novel_features(net, data, 3)
    assert f.query.shape == (len(data.test_x), 8) and f.support.shape == (3, len(data.test_x), 8)
    assert not torch.allclose(f.support[0], f.support[1])          # each copy is augmented anew
    assert rfs.novel_features(net, data, 0).support is None
    logits = rfs.novel_features(net, data, 0, "logits").query
    assert logits.shape == (len(data.test_x), len(data.train_classes))
    with pytest.raises(ValueError, match="unknown embedding"):
        rfs.novel_features(net, data, 0, "pixels")


def test_every_model_and_classifier_is_scored_on_the_same_episodes():
    cfg, data = tiny_cfg(), tiny_fewshot()
    a, b = rfs.episodes(data, cfg, 1), rfs.episodes(data, cfg, 1)
    assert np.array_equal(a.support, b.support) and np.array_equal(a.query, b.query)
    assert not np.array_equal(rfs.episodes(data, cfg, 1, seed=1).support, a.support)
    assert a.support.shape == (cfg.n_episodes, cfg.n_way) and a.query.shape == (cfg.n_episodes, cfg.n_way * cfg.n_query)


def test_benchmark_tables_sit_beside_the_papers_numbers():
    cfg = tiny_cfg()
    table, by_gen, histories = rfs.benchmark(cfg, progress=False)
    assert list(table.index) == [("CIFAR-FS", "RFS-simple"), ("CIFAR-FS", "RFS-distill"), ("FC100", "RFS-simple"),
                                 ("FC100", "RFS-distill")]
    assert list(table.columns) == ["1-shot", "1-shot ±", "2-shot", "2-shot ±", "1-shot (paper)"]
    assert table.loc[("FC100", "RFS-distill"), "1-shot (paper)"] == 44.6
    assert len(by_gen) == 2 * 3 and set(histories) == {"cifar-fs", "fc100"}
    # RFS-simple is generation 0 and RFS-distill the last generation
    assert table.loc[("CIFAR-FS", "RFS-simple"), "1-shot"] == by_gen.loc[("CIFAR-FS", 0), "1-shot"]
    assert table.loc[("CIFAR-FS", "RFS-distill"), "2-shot"] == by_gen.loc[("CIFAR-FS", 2), "2-shot"]
    assert ((table[["1-shot", "2-shot"]] >= 0) & (table[["1-shot", "2-shot"]] <= 100)).all().all()


def test_without_generations_there_is_no_distilled_row():
    table, by_gen, _ = rfs.benchmark(tiny_cfg(generations=0, datasets=["fc100"]), progress=False)
    assert list(table.index) == [("FC100", "RFS-simple")] and len(by_gen) == 1


def test_the_ablation_adds_one_ingredient_per_row():
    table = rfs.ablation(tiny_cfg(datasets=["cifar-fs"]), progress=False)
    assert list(table.index) == [step for step, _ in rfs.ABLATION_STEPS]
    assert list(table.columns) == ["CIFAR-FS 1-shot", "CIFAR-FS 1-shot ±", "CIFAR-FS 2-shot", "CIFAR-FS 2-shot ±"]
    # "+ distillation" scores the last generation with the full protocol (benchmark's RFS-distill)
    bench, _, _ = rfs.benchmark(tiny_cfg(datasets=["cifar-fs"]), progress=False)
    assert table.loc["+ distillation", "CIFAR-FS 1-shot"] == pytest.approx(bench.loc[("CIFAR-FS", "RFS-distill"), "1-shot"])
    assert table.loc["+ support augmentation", "CIFAR-FS 2-shot"] == pytest.approx(
        bench.loc[("CIFAR-FS", "RFS-simple"), "2-shot"])


def test_classifiers_and_embeddings_are_compared():
    cfg = tiny_cfg(datasets=["cifar-fs"])
    clf = rfs.compare_classifiers(cfg, progress=False)
    assert list(clf.index) == [("CIFAR-FS", c) for c in ("LR", "centroid", "NN", "Cosine")]
    assert list(clf.columns) == ["1-shot", "2-shot", "1-shot (no L2)", "2-shot (no L2)"]
    # cosine 1-NN does not depend on the features' norms
    assert clf.loc[("CIFAR-FS", "Cosine"), "1-shot"] == clf.loc[("CIFAR-FS", "Cosine"), "1-shot (no L2)"]
    emb = rfs.compare_embeddings(cfg, progress=False)
    assert list(emb.index) == [("CIFAR-FS", "features (8-d)"), ("CIFAR-FS", "logits (6-d)")]


def test_untrained_baselines_and_the_running_interval():
    cfg, data = tiny_cfg("method"), tiny_fewshot()
    table = rfs.untrained_baselines(cfg, data)
    assert list(table.index) == ["pixels", "untrained conv4"]
    # the tinted novel classes are told apart from their pixels alone
    assert table.loc["pixels", "1-shot"] > 90
    res = rfs.few_shot(rfs.novel_features(rfs.Pixels(), data, 0), data, cfg)[1]
    run = rfs.running_interval(res)
    assert list(run["episodes"]) == list(range(2, cfg.n_episodes + 1))
    assert tuple(run.iloc[-1][["mean", "ci95"]]) == pytest.approx(mean_confidence_interval(res.accuracies))


def test_cluster_scores_see_separated_classes():
    cfg, data = tiny_cfg("features"), tiny_fewshot()
    scores = rfs.cluster_scores(cfg, data, {"pixels": rfs.Pixels(), "untrained": rfs.untrained(cfg, data)})
    assert list(scores.columns) == ["silhouette", "within / between distance"]
    assert -1 <= scores.loc["untrained", "silhouette"] <= 1
    assert scores.loc["pixels", "within / between distance"] < 1      # tinted classes: tighter within


def test_projection_keeps_the_first_classes(monkeypatch):
    cfg = tiny_cfg("features", projection_classes=3, projection_per_class=4)
    data = tiny_fewshot()
    points, labels = rfs.projection(cfg, data, rfs.Pixels(), "pca")
    assert points.shape == (12, 2) and sorted(set(labels)) == [0, 1, 2]


def test_named_generations():
    a, b, c = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    assert rfs.named_generations([a, b, c]) == {"RFS-simple": a, "RFS-distill": c}
    assert rfs.named_generations([a]) == {"RFS-simple": a}


@pytest.mark.parametrize("override, message", [
    (dict(datasets=["mini-imagenet"]), "unknown datasets"),
    (dict(datasets="cifar-fs"), "datasets must be a non-empty list"),
    (dict(model="vgg"), "unknown model"),
    (dict(embedding="pixels"), "unknown embedding"),
    (dict(shots=5), "shots must be a non-empty list"),
    (dict(shots=[1, 0]), r"shots\[1\] must be a positive int"),
    (dict(generations=-1), "generations must be a non-negative int"),
    (dict(n_episodes=1), r"n_episodes \(the confidence interval needs two\) must be an int of at least 2"),
    (dict(epochs=0), "epochs must be a positive int"),
    (dict(n_way=1), "n_way .* must be an int of at least 2"),
    (dict(n_way=25), "n_way=25 is more than the 20 novel classes"),
    (dict(shots=[1, 90]), "an episode needs n_shot \\+ n_query = 105 images"),
    (dict(eval_per_class=0), "eval_per_class must be a positive int"),
    (dict(train_per_class=700), "train_per_class must be None \\(all\\) or at most 600"),
    (dict(train_per_class="100"), "train_per_class must be a positive int"),
    (dict(classifier="svm"), "unknown classifier 'svm'"),
    (dict(normalize="no"), "normalize must be True or False"),
    (dict(kd_T=0), "kd_T must be a positive number"),
    (dict(gamma="0.5"), "gamma must be a non-negative number"),
    (dict(model_kw={"depth": 3}), "model_kw .* does not fit conv4"),
])
def test_bad_configurations_are_clear_errors(override, message):
    with pytest.raises((ValueError, TypeError), match=message):
        rfs.config("benchmark", "smoke", **override)
    with pytest.raises(ValueError, match="unknown notebook config"):
        rfs.config("nope", "smoke")


def test_dataset_names_take_any_spelling_and_a_new_model_drops_the_scales_options():
    cfg = rfs.config("benchmark", "smoke", datasets=["CIFAR-FS", "fc-100"])
    assert cfg.datasets == ["cifar-fs", "fc100"]
    assert rfs.config("benchmark", "smoke", model="resnet12").model_kw == {}
    data = tiny_fewshot("CIFAR_FS")
    assert data.name == "cifar-fs" and data.label == "CIFAR-FS"


def test_few_shot_data_is_checked():
    good = tiny_fewshot()
    with pytest.raises(ValueError, match="test_x must be uint8 images"):
        rfs.FewShotData("cifar-fs", good.train_x, good.train_y, good.test_x.float(), good.test_y, good.train_classes,
                        good.test_classes, good.device)
    with pytest.raises(ValueError, match="test_y must have shape"):
        rfs.FewShotData("cifar-fs", good.train_x, good.train_y, good.test_x, good.test_y[:-1], good.train_classes,
                        good.test_classes, good.device)
    with pytest.raises(ValueError, match="train_y must be integer labels 0..5"):
        rfs.FewShotData("cifar-fs", good.train_x, good.train_y + 1, good.test_x, good.test_y, good.train_classes,
                        good.test_classes, good.device)


def test_the_cache_tells_different_training_images_apart(tiny_world):
    cfg = tiny_cfg(generations=0)
    a, _ = rfs.born_again(cfg, tiny_fewshot(seed=0), progress=False)
    b, _ = rfs.born_again(cfg, tiny_fewshot(seed=1), progress=False)
    assert len(list(tiny_world.glob("*.pt"))) == 2
    assert not torch.equal(a[0].classifier.weight, b[0].classifier.weight)


def test_features_of_another_dataset_are_refused():
    cfg, data = tiny_cfg(), tiny_fewshot()
    other = tiny_fewshot(test_per=10)
    with pytest.raises(ValueError, match="features of another dataset"):
        rfs.few_shot(rfs.novel_features(rfs.Pixels(), other, 0), data, cfg)


def test_the_ablation_leaves_out_steps_that_are_not_configured():
    table = rfs.ablation(tiny_cfg(datasets=["cifar-fs"], generations=0, n_aug=0), progress=False)
    assert list(table.index) == ["NN", "LR", "+ L2 normalisation"]


def test_helper_arguments_are_checked():
    with pytest.raises(TypeError, match="classifiers must be a list"):
        rfs.compare_classifiers(tiny_cfg(), classifiers="LR", progress=False)
    with pytest.raises(ValueError, match="unknown classifiers"):
        rfs.compare_classifiers(tiny_cfg(), classifiers=["LR", "svm"], progress=False)
    with pytest.raises(TypeError, match="one FewShotResult"):
        rfs.running_interval({1: None})
