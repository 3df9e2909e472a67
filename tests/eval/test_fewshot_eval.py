"""Episodic few-shot evaluation (RFS eval/meta_eval.py): sampler, classifiers, t-interval, errors."""
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from reprobook.eval.fewshot import (Episode, EpisodeSampler, evaluate_episodes, logistic_regression,
                                    mean_confidence_interval)


def _labels(n_classes=10, per_class=30, offset=0):
    return np.repeat(np.arange(n_classes) * 7 + offset, per_class)       # arbitrary label values


def _blobs(n_classes=10, per_class=30, d=16, spread=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, d, generator=g) * 3
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centers[y] + spread * torch.randn(len(y), d, generator=g), y


# --- sampler ---------------------------------------------------------------------------------

def test_episode_has_exact_shots_and_queries_disjoint_and_one_class_per_label():
    labels = _labels()
    sampler = EpisodeSampler(labels, n_way=5, n_shot=3, n_query=7, generator=1)
    ep = sampler.sample()
    assert ep.support.shape == ep.support_labels.shape == (15,)
    assert ep.query.shape == ep.query_labels.shape == (35,)
    assert len(set(ep.classes)) == 5 and set(ep.classes) <= set(labels)
    assert np.array_equal(np.bincount(ep.support_labels), [3] * 5)
    assert np.array_equal(np.bincount(ep.query_labels), [7] * 5)
    assert not set(ep.support) & set(ep.query)
    assert len(set(ep.support)) == 15 and len(set(ep.query)) == 35
    assert np.array_equal(labels[ep.support], ep.classes[ep.support_labels])
    assert np.array_equal(labels[ep.query], ep.classes[ep.query_labels])
    assert len(ep) == 1


def test_many_episodes_are_each_valid_and_seeded():
    labels = _labels()
    many = EpisodeSampler(labels, 5, 1, 15, generator=3).sample_many(200)
    assert many.support.shape == (200, 5) and many.query.shape == (200, 75) and len(many) == 200
    for e in range(200):
        assert len(set(many.classes[e])) == 5
        assert not set(many.support[e]) & set(many.query[e])
        assert len(set(many.query[e])) == 75
        assert np.array_equal(labels[many.query[e]], many.classes[e][many.query_labels[e]])
    again = EpisodeSampler(labels, 5, 1, 15, generator=3).sample_many(200)
    other = EpisodeSampler(labels, 5, 1, 15, generator=4).sample_many(200)
    assert np.array_equal(many.support, again.support) and np.array_equal(many.query, again.query)
    assert not np.array_equal(many.support, other.support)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert np.array_equal(EpisodeSampler(labels, generator=g1).sample_many(3).query,
                          EpisodeSampler(labels, generator=g2).sample_many(3).query)
    # every class is drawn over many episodes (classes without replacement within, uniform across)
    assert set(many.classes.ravel()) == set(labels)


def test_sampler_bad_inputs():
    labels = _labels(n_classes=4, per_class=10)
    with pytest.raises(ValueError, match="n_way=5 is more than the 4 classes"):
        EpisodeSampler(labels, n_way=5)
    with pytest.raises(ValueError, match=r"at least n_shot \+ n_query = 16 images.*\{0: 10, 7: 10, 14: 10, 21: 10\}"):
        EpisodeSampler(labels, n_way=2, n_shot=1, n_query=15)
    small = np.concatenate([labels, [99] * 3])
    with pytest.raises(ValueError, match=r"\{99: 3\}"):
        EpisodeSampler(small, n_way=2, n_shot=1, n_query=5)
    with pytest.raises(ValueError, match="n_shot must be at least 1"):
        EpisodeSampler(labels, n_way=2, n_shot=0)
    with pytest.raises(ValueError, match="n_way must be at least 2"):
        EpisodeSampler(labels, n_way=1, n_query=2)
    with pytest.raises(TypeError, match="n_query must be an integer"):
        EpisodeSampler(labels, n_way=2, n_query=2.5)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\)"):
        EpisodeSampler(labels.reshape(4, 10), n_way=2, n_query=2)
    with pytest.raises(TypeError, match="integer class indices"):
        EpisodeSampler(labels.astype(float), n_way=2, n_query=2)
    with pytest.raises(TypeError, match="generator must be"):
        EpisodeSampler(labels, n_way=2, n_query=2, generator="seed")
    with pytest.raises(ValueError, match="n_episodes must be at least 1"):
        EpisodeSampler(labels, n_way=2, n_query=2).sample_many(0)


# --- interval ----------------------------------------------------------------------------------

def test_interval_is_scipys_student_t_interval():
    accs = [60.0, 72.5, 55.0, 80.0, 66.25, 71.0, 58.5]
    mean, h = mean_confidence_interval(accs)
    lo, hi = scipy.stats.t.interval(0.95, len(accs) - 1, loc=np.mean(accs), scale=scipy.stats.sem(accs))
    assert mean == pytest.approx(np.mean(accs), abs=1e-12)
    assert h == pytest.approx((hi - lo) / 2, rel=1e-12)
    # by hand: t_{0.975, 6} = 2.446912, sem = s / sqrt(7)
    assert h == pytest.approx(2.446912 * np.std(accs, ddof=1) / np.sqrt(7), rel=1e-6)
    m90, h90 = mean_confidence_interval(torch.tensor(accs), confidence=0.9)
    assert m90 == pytest.approx(mean) and h90 < h
    assert mean_confidence_interval([1.0, 1.0, 1.0]) == (1.0, 0.0)
    with pytest.raises(ValueError, match="at least 2 accuracies"):
        mean_confidence_interval([50.0])
    with pytest.raises(ValueError, match="confidence must be in"):
        mean_confidence_interval(accs, confidence=95)
    with pytest.raises(ValueError, match="NaN"):
        mean_confidence_interval([1.0, float("nan")])


# --- classifiers ---------------------------------------------------------------------------------

def test_logistic_regression_is_perfect_on_a_separable_episode_without_deprecation_warnings():
    x, y = _blobs(spread=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        clf = logistic_regression()
        res = evaluate_episodes(x, y, n_episodes=5, n_way=5, n_shot=1, n_query=15, classifier="LR", generator=0)
    assert clf.C == 1.0 and clf.solver == "lbfgs" and clf.max_iter == 1000 and clf.random_state == 0
    assert np.array_equal(res.accuracies, np.full(5, 100.0)) and res.mean == 100.0 and res.ci95 == 0.0
    assert res.classifier == "LR" and (res.n_way, res.n_shot, res.n_query, res.n_aug) == (5, 1, 15, 1)
    assert "5-way 1-shot LR" in str(res)


def _toy_episode():
    # 1-d features (second coordinate 0): class 0 support at 0 and 2 (centroid 1), class 1 at 3 and 10
    # (centroid 6.5); the query at 2.8 is nearest to support point 3 (class 1) but to centroid 1 (class 0)
    feats = torch.tensor([[0.0, 0], [2, 0], [3, 0], [10, 0], [2.8, 0], [7, 0]])
    ep = Episode(np.array([[0, 1, 2, 3]] * 2), np.array([[0, 0, 1, 1]] * 2), np.array([[4, 5]] * 2),
                 np.array([[0, 1]] * 2), np.array([[0, 1]] * 2), n_way=2, n_shot=2, n_query=1)
    return feats, ep


def test_nearest_centroid_and_nearest_neighbour_are_exact_on_a_toy():
    feats, ep = _toy_episode()
    cen = evaluate_episodes(feats, episodes=ep, classifier="centroid", normalize=False)
    nn_ = evaluate_episodes(feats, episodes=ep, classifier="NN", normalize=False)
    assert np.array_equal(cen.accuracies, [100.0, 100.0])      # 2.8 -> centroid 1 (class 0), 7 -> 6.5
    assert np.array_equal(nn_.accuracies, [50.0, 50.0])        # 2.8 -> point 3 (class 1), 7 -> 10 (class 1)
    assert evaluate_episodes(feats, episodes=ep, classifier="proto", normalize=False).mean == 100.0


def _loop_predict(xs, ys, xq, classifier, n_way):
    """float64 per-query transcription of rfs NN / Cosine / Proto."""
    xs, xq = np.asarray(xs, np.float64), np.asarray(xq, np.float64)
    out = []
    for q in xq:
        if classifier == "NN":
            out.append(ys[int(np.argmin([((q - s) ** 2).sum() for s in xs]))])
        elif classifier == "Cosine":
            out.append(ys[int(np.argmax([q @ s / np.linalg.norm(q) / np.linalg.norm(s) for s in xs]))])
        else:
            cents = [xs[ys == c].mean(0) for c in range(n_way)]
            out.append(int(np.argmin([((q - c) ** 2).sum() for c in cents])))
    return np.array(out)


@pytest.mark.parametrize("classifier", ["NN", "Cosine", "centroid"])
@pytest.mark.parametrize("normalize", [True, False])
def test_batched_classifiers_match_a_per_query_loop(classifier, normalize):
    x, y = _blobs(spread=3.0, seed=1)                          # overlapping: accuracies in between
    ep = EpisodeSampler(y, 5, 2, 6, generator=2).sample_many(8)
    res = evaluate_episodes(x, episodes=ep, classifier=classifier, normalize=normalize, chunk=3)
    xn = torch.nn.functional.normalize(x, dim=1) if normalize else x
    for e in range(8):
        pred = _loop_predict(xn[ep.support[e]], ep.support_labels[e], xn[ep.query[e]], classifier, 5)
        assert res.accuracies[e] == pytest.approx(100.0 * (pred == ep.query_labels[e]).mean())
    assert 0 < res.mean < 100


def test_support_comes_from_all_augmented_copies():
    x, y = _blobs(spread=0.1)
    ep = EpisodeSampler(y, 5, 1, 10, generator=0).sample_many(20)
    base = evaluate_episodes(x, episodes=ep, classifier="centroid")
    copies = evaluate_episodes(x, episodes=ep, classifier="centroid", support_features=torch.stack([x, x, x]))
    assert copies.n_aug == 3 and np.array_equal(base.accuracies, copies.accuracies)
    # negated support features: a query's cosine with its own class's support is about -1, with the others'
    # about 0, so every query is misclassified: the support came from support_features, not features
    assert evaluate_episodes(x, episodes=ep, classifier="Cosine", support_features=-x[None]).mean == 0.0
    assert evaluate_episodes(x, episodes=ep, classifier="Cosine", support_features=x[None]).mean == 100.0
    # one good copy among two bad ones still decides nearest-neighbour: the NN search spans all copies
    far = torch.full_like(x, 1e3)
    mix = torch.stack([far, x, far])
    assert evaluate_episodes(x, episodes=ep, classifier="NN", normalize=False, support_features=mix).mean == 100.0
    # the LR fit sees n_aug * n_way * n_shot samples: fitting on copies of a perfect support stays perfect
    assert evaluate_episodes(x, episodes=ep, classifier="LR", support_features=torch.stack([x, x])).mean == 100.0


def test_600_episodes_sample_once_and_run_fast():
    x, y = _blobs(n_classes=20, per_class=40, d=64, spread=1.0)
    res = evaluate_episodes(x, y, n_episodes=600, n_way=5, n_shot=5, n_query=15, classifier="centroid",
                            support_features=torch.stack([x] * 5), generator=0)
    assert res.accuracies.shape == (600,) and res.n_aug == 5
    again = evaluate_episodes(x, y, n_episodes=600, n_way=5, n_shot=5, n_query=15, classifier="centroid",
                              support_features=torch.stack([x] * 5), generator=0)
    assert np.array_equal(res.accuracies, again.accuracies)
    # accuracies are multiples of 100 / 75 (75 queries per episode)
    assert np.allclose(res.accuracies * 75 / 100, np.round(res.accuracies * 75 / 100))


def test_evaluate_bad_inputs():
    x, y = _blobs()
    with pytest.raises(ValueError, match="unknown classifier 'SVM'.*LR, NN, Cosine, centroid"):
        evaluate_episodes(x, y, classifier="SVM")
    with pytest.raises(ValueError, match=r"features must have shape \(N, D\)"):
        evaluate_episodes(x[None], y)
    with pytest.raises(TypeError, match="floating point"):
        evaluate_episodes(y[:, None], y)
    bad = x.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        evaluate_episodes(bad, y)
    with pytest.raises(ValueError, match=r"labels must have shape \(300,\)"):
        evaluate_episodes(x, y[:-1])
    with pytest.raises(ValueError, match="pass labels"):
        evaluate_episodes(x)
    with pytest.raises(ValueError, match=r"support_features must have shape \(n_aug, 300, 16\)"):
        evaluate_episodes(x, y, support_features=torch.stack([x[:-1]] * 2))
    with pytest.raises(ValueError, match="at least 2 episodes"):
        evaluate_episodes(x, y, n_episodes=1)
    ep = EpisodeSampler(np.arange(400) % 10, 5, 1, 15, generator=0).sample_many(4)
    with pytest.raises(ValueError, match="out of range for 300 features"):
        evaluate_episodes(x, episodes=ep)
    with pytest.raises(TypeError, match="episodes must be an Episode"):
        evaluate_episodes(x, episodes=[1, 2])


def test_episodes_are_checked_against_the_labels_when_both_are_given():
    x, y = _blobs()
    ep = EpisodeSampler(y, 5, 1, 15, generator=0).sample_many(4)
    assert evaluate_episodes(x, y, episodes=ep, classifier="NN").mean == 100.0
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    with pytest.raises(ValueError, match="not drawn from these labels"):
        evaluate_episodes(x, shuffled, episodes=ep, classifier="NN")
