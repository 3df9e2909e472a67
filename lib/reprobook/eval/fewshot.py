"""Few-shot evaluation by episodes on frozen features: the RFS protocol (Tian et al. 2020).

The official protocol (WangYueFt/rfs ``eval/meta_eval.py``, ``meta_test``; episodes from
``dataset/cifar.py``, ``MetaCIFAR100``; settings from ``eval_fewshot.py``):

- an episode draws ``n_way`` classes of the split without replacement, then per class
  ``n_shot`` support and ``n_query`` query images without replacement, support and query
  disjoint; episode labels are 0..n_way-1 in the order the classes were drawn;
- 5-way, 1- or 5-shot, 15 queries per class, 600 episodes;
- the support images are augmented: ``n_aug_support_samples = 5`` copies of each, every copy
  through the *training* transform (RandomCrop(32, 4), ColorJitter(0.4, 0.4, 0.4), flip), and
  the classifier is fitted on all copies; queries use the test transform;
- features are L2-normalised (``is_norm=True``), then a classifier is fitted on the support:
  ``LogisticRegression(penalty='l2', C=1.0, solver='lbfgs', max_iter=1000,
  multi_class='multinomial', random_state=0)`` ("LR"), or the 1-nearest-neighbour rules
  ``NN`` (Euclidean) and ``Cosine``, or ``Proto`` (nearest class mean);
- the result is the mean accuracy and the 95 % Student-t half-width of :func:`mean_confidence_interval`.

Differences here, for speed and exactness: the caller extracts the features of a split
**once** (``(N, D)``; and for support augmentation ``(n_aug, N, D)``, the features of n_aug
augmented copies of every image) instead of per episode, all episodes' indices are sampled
first, and the distance classifiers run batched over episodes. The official ``Proto``
reshapes the tiled support by position, which mixes augmented copies with the episode batch;
``centroid`` here averages every copy of a class's support.
"""
from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

CLASSIFIERS = ("LR", "NN", "Cosine", "centroid")
_CLASSIFIER_ALIASES = {"lr": "LR", "logistic": "LR", "nn": "NN", "cosine": "Cosine", "centroid": "centroid",
                       "proto": "centroid"}


def _as_rng(generator) -> np.random.Generator:
    """A numpy Generator from a Generator, an int seed, a torch.Generator, or None (seed 0)."""
    if generator is None:
        return np.random.default_rng(0)
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, torch.Generator):
        return np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a numpy Generator, a torch.Generator, an int seed or None, "
                    f"got {type(generator).__name__}")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


@dataclass(frozen=True)
class Episode:
    """Indices into a dataset for one episode, or for ``E`` episodes with a leading axis.

    ``support`` ``(n_way * n_shot,)`` / ``(E, n_way * n_shot)`` and ``query``
    ``(n_way * n_query,)`` / ``(E, n_way * n_query)`` are dataset indices, class-major (the
    ``n_shot`` images of episode class 0, then class 1, ...); ``support_labels`` /
    ``query_labels`` the episode labels 0..n_way-1 of the same shapes; ``classes``
    ``(n_way,)`` / ``(E, n_way)`` the dataset labels of episode classes 0..n_way-1.
    """

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    classes: np.ndarray
    n_way: int
    n_shot: int
    n_query: int

    def __len__(self) -> int:
        """The number of episodes (1 for a single episode)."""
        return 1 if self.support.ndim == 1 else len(self.support)


class EpisodeSampler:
    """Draws N-way K-shot episodes from the labels of one split (rfs ``MetaCIFAR100.__getitem__``).

    ``labels`` ``(N,)`` are the dataset's integer labels (any values; each distinct value is
    a class). Per episode: ``n_way`` classes without replacement, then ``n_shot + n_query``
    images of each class without replacement, the first ``n_shot`` the support, the rest the
    query. ``generator`` is a numpy Generator, an int seed, a torch.Generator or None (seed 0):
    the same seed gives the same episodes.
    """

    def __init__(self, labels, n_way: int = 5, n_shot: int = 1, n_query: int = 15, generator=None):
        labels = labels.detach().cpu().numpy() if torch.is_tensor(labels) else np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"labels must have shape (N,), got {labels.shape}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
        self.n_way = _positive_int(n_way, "n_way")
        self.n_shot = _positive_int(n_shot, "n_shot")
        self.n_query = _positive_int(n_query, "n_query")
        if self.n_way < 2:
            raise ValueError(f"n_way must be at least 2 (an episode classifies between classes), got {n_way}")
        self.class_values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if self.n_way > len(self.class_values):
            raise ValueError(f"n_way={self.n_way} is more than the {len(self.class_values)} classes in labels")
        need = self.n_shot + self.n_query
        small = {int(c): int(n) for c, n in zip(self.class_values, counts) if n < need}
        if small:
            raise ValueError(f"every class needs at least n_shot + n_query = {need} images; these classes "
                             f"have fewer (label: count): {small}")
        order = np.argsort(inverse, kind="stable")
        self._members = np.split(order.astype(np.int64), np.cumsum(counts)[:-1])
        self.rng = _as_rng(generator)

    def sample(self) -> Episode:
        """One episode: support ``(n_way * n_shot,)``, query ``(n_way * n_query,)`` indices and labels."""
        e = self.sample_many(1)
        return Episode(e.support[0], e.support_labels[0], e.query[0], e.query_labels[0], e.classes[0],
                       self.n_way, self.n_shot, self.n_query)

    def sample_many(self, n_episodes: int) -> Episode:
        """``n_episodes`` episodes at once, stacked: support ``(E, n_way * n_shot)``, query ``(E, n_way * n_query)``."""
        n_episodes = _positive_int(n_episodes, "n_episodes")
        w, s, q = self.n_way, self.n_shot, self.n_query
        support = np.empty((n_episodes, w, s), np.int64)
        query = np.empty((n_episodes, w, q), np.int64)
        classes = np.empty((n_episodes, w), np.int64)
        for e in range(n_episodes):
            picked = self.rng.choice(len(self._members), w, replace=False)
            for k, c in enumerate(picked):
                members = self._members[c]
                chosen = members[self.rng.choice(len(members), s + q, replace=False)]
                support[e, k], query[e, k] = chosen[:s], chosen[s:]
            classes[e] = self.class_values[picked]
        ways = np.arange(w, dtype=np.int64)
        return Episode(support.reshape(n_episodes, w * s), np.repeat(ways, s)[None].repeat(n_episodes, 0),
                       query.reshape(n_episodes, w * q), np.repeat(ways, q)[None].repeat(n_episodes, 0),
                       classes, w, s, q)


def mean_confidence_interval(accs, confidence: float = 0.95) -> tuple[float, float]:
    """``(mean, h)``: the mean of ``accs`` and the half-width of its Student-t interval.

    ``h = t.ppf((1 + confidence) / 2, n - 1) * sem`` with ``sem = std(ddof=1) / sqrt(n)``, as
    rfs ``eval/meta_eval.py`` (``mean_confidence_interval``). Needs at least two values.
    """
    a = np.asarray(accs.detach().cpu() if torch.is_tensor(accs) else accs, dtype=np.float64).reshape(-1)
    if a.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 accuracies, got {a.size}")
    if not np.isfinite(a).all():
        raise ValueError("accs contain NaN or inf")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    sem = scipy.stats.sem(a)
    return float(a.mean()), float(sem * scipy.stats.t.ppf((1 + confidence) / 2, a.size - 1))


@dataclass
class FewShotResult:
    """Per-episode accuracies (percent, ``(E,)``), their mean and 95 % t half-width (percent)."""

    accuracies: np.ndarray
    mean: float
    ci95: float
    classifier: str
    n_way: int
    n_shot: int
    n_query: int
    n_aug: int

    def __str__(self) -> str:
        return (f"{self.n_way}-way {self.n_shot}-shot {self.classifier}: {self.mean:.2f} ± {self.ci95:.2f} % "
                f"over {len(self.accuracies)} episodes")


def logistic_regression(C: float = 1.0, max_iter: int = 1000, random_state: int = 0):
    """sklearn's ``LogisticRegression`` as rfs calls it, without deprecated arguments.

    Official: ``LogisticRegression(penalty='l2', random_state=0, C=1.0, solver='lbfgs',
    max_iter=1000, multi_class='multinomial')``. From scikit-learn 1.5 lbfgs is multinomial
    for more than two classes without ``multi_class`` (removed in 1.8), and from 1.8 the L2
    penalty is ``l1_ratio=0`` (``penalty`` deprecated); the fitted model is the same.
    """
    from sklearn.linear_model import LogisticRegression

    params = inspect.signature(LogisticRegression).parameters
    kw = dict(C=C, solver="lbfgs", max_iter=max_iter, random_state=random_state)
    if params["penalty"].default == "deprecated":
        kw["l1_ratio"] = 0.0
    else:
        kw["penalty"] = "l2"
        if "multi_class" in params and params["multi_class"].default != "deprecated":
            kw["multi_class"] = "multinomial"    # before 1.5 the argument was still current
    return LogisticRegression(**kw)


def _as_features(x, name: str, ndim: int) -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim != ndim:
        shape = "(N, D)" if ndim == 2 else "(n_aug, N, D)"
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contain NaN or inf")
    return x.detach().float()


def _predict_distance(support, support_labels, query, classifier: str, n_way: int):
    """Batched distance classifiers: support ``(E, S, D)``, labels ``(E, S)``, query ``(E, Q, D)`` -> ``(E, Q)``."""
    if classifier == "centroid":            # rfs Proto: nearest class mean, squared Euclidean
        onehot = F.one_hot(support_labels, n_way).to(support.dtype)            # (E, S, W)
        centroids = onehot.transpose(1, 2) @ support / onehot.sum(1).unsqueeze(-1)   # (E, W, D)
        return torch.cdist(query, centroids).argmin(-1)
    if classifier == "NN":                  # rfs NN: 1-nearest neighbour, Euclidean
        nearest = torch.cdist(query, support).argmin(-1)                       # (E, Q)
    else:                                   # rfs Cosine: 1-nearest neighbour, cosine similarity
        nearest = (F.normalize(query, dim=-1) @ F.normalize(support, dim=-1).transpose(1, 2)).argmax(-1)
    return torch.gather(support_labels, 1, nearest)


def evaluate_episodes(features, labels=None, *, episodes: Episode | None = None, n_episodes: int = 600,
                      n_way: int = 5, n_shot: int = 1, n_query: int = 15, classifier: str = "LR",
                      normalize: bool = True, support_features=None, generator=None, C: float = 1.0,
                      max_iter: int = 1000, chunk: int = 100) -> FewShotResult:
    """Few-shot accuracy of frozen features over episodes (rfs ``eval/meta_eval.py``, ``meta_test``).

    ``features`` ``(N, D)``: the (test-transform) features of every image of the split,
    extracted once by the caller; they give the queries, and the support unless
    ``support_features`` is given. ``support_features`` ``(n_aug, N, D)`` (or ``(N, D)`` for
    one copy): the features of ``n_aug`` augmented copies of every image; an episode's
    support is then all ``n_aug * n_way * n_shot`` copies (the official protocol: 5 copies
    through the training augmentation). Either ``labels`` ``(N,)`` with ``n_episodes``,
    ``n_way``, ``n_shot``, ``n_query`` and ``generator`` (see :class:`EpisodeSampler`), or
    ``episodes`` from :meth:`EpisodeSampler.sample_many` (to compare classifiers on the same
    episodes; with ``labels`` too, the episodes are checked against them).

    ``normalize``: L2-normalise support and query features (official ``is_norm=True``).
    ``classifier``: ``"LR"`` (:func:`logistic_regression` with ``C``, ``max_iter``), ``"NN"``
    (Euclidean 1-NN), ``"Cosine"`` (cosine 1-NN) or ``"centroid"`` (nearest class mean,
    squared Euclidean; the official ``Proto``). Returns per-episode accuracies in percent with
    their mean and 95 % t half-width.
    """
    name = _CLASSIFIER_ALIASES.get(str(classifier).lower()) if isinstance(classifier, str) else None
    if name is None:
        raise ValueError(f"unknown classifier {classifier!r}; valid: {', '.join(CLASSIFIERS)}")
    feats = _as_features(features, "features", 2)
    n, d = feats.shape
    if support_features is None:
        support_feats = feats.unsqueeze(0)
    else:
        sf = support_features
        if (torch.is_tensor(sf) or isinstance(sf, np.ndarray)) and sf.ndim == 2:
            sf = sf[None]
        support_feats = _as_features(sf, "support_features", 3)
        if support_feats.shape[1:] != (n, d):
            raise ValueError(f"support_features must have shape (n_aug, {n}, {d}) to match features "
                             f"{tuple(feats.shape)}, got {tuple(support_feats.shape)}")
        support_feats = support_feats.to(feats.device)
    n_aug = support_feats.shape[0]
    lab = None
    if labels is not None:
        lab = labels.detach().cpu().numpy() if torch.is_tensor(labels) else np.asarray(labels)
        if lab.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match features, got {lab.shape}")
    if episodes is None:
        if lab is None:
            raise ValueError("pass labels (N,) to sample episodes, or episodes from EpisodeSampler.sample_many")
        episodes = EpisodeSampler(lab, n_way, n_shot, n_query, generator).sample_many(n_episodes)
    elif not isinstance(episodes, Episode):
        raise TypeError(f"episodes must be an Episode from EpisodeSampler, got {type(episodes).__name__}")
    sup, qry = np.atleast_2d(episodes.support), np.atleast_2d(episodes.query)
    sup_y, qry_y = np.atleast_2d(episodes.support_labels), np.atleast_2d(episodes.query_labels)
    if max(sup.max(), qry.max()) >= n or min(sup.min(), qry.min()) < 0:
        raise ValueError(f"episode indices out of range for {n} features")
    if lab is not None:                 # the episodes must have been drawn from these labels
        classes = np.atleast_2d(episodes.classes)
        if not (np.array_equal(lab[sup], np.take_along_axis(classes, sup_y, 1))
                and np.array_equal(lab[qry], np.take_along_axis(classes, qry_y, 1))):
            raise ValueError("the episodes were not drawn from these labels (another split or dataset?)")
    if len(sup) < 2:
        raise ValueError("evaluate at least 2 episodes (the confidence interval needs them)")
    w = episodes.n_way
    chunk = _positive_int(chunk, "chunk")
    device = feats.device
    accs = []
    for s in range(0, len(sup), chunk):
        idx_s = torch.from_numpy(sup[s:s + chunk]).to(device)                  # (e, K)
        idx_q = torch.from_numpy(qry[s:s + chunk]).to(device)                  # (e, Q)
        e = idx_s.shape[0]
        xs = support_feats[:, idx_s].permute(1, 0, 2, 3).reshape(e, n_aug * idx_s.shape[1], d)  # copy-major
        ys = torch.from_numpy(np.tile(sup_y[s:s + chunk], (1, n_aug))).to(device)              # (e, n_aug*K)
        xq = feats[idx_q]                                                      # (e, Q, D)
        yq = torch.from_numpy(qry_y[s:s + chunk]).to(device)
        if normalize:
            xs, xq = F.normalize(xs, dim=-1), F.normalize(xq, dim=-1)
        if name == "LR":
            xs_np, xq_np, ys_np = xs.cpu().numpy(), xq.cpu().numpy(), ys.cpu().numpy()
            pred = np.stack([logistic_regression(C, max_iter).fit(xs_np[i], ys_np[i]).predict(xq_np[i])
                             for i in range(e)])
            correct = pred == yq.cpu().numpy()
        else:
            correct = (_predict_distance(xs, ys, xq, name, w) == yq).cpu().numpy()
        accs.append(100.0 * correct.mean(1))
    accs = np.concatenate(accs).astype(np.float64)
    mean, h = mean_confidence_interval(accs)
    return FewShotResult(accs, mean, h, name, w, episodes.n_shot, episodes.n_query, n_aug)
