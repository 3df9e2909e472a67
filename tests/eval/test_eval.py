import pytest
import torch

from reprobook.eval import extract_features, knn_accuracy, linear_probe


def _blobs(n=300, d=8, c=3, seed=0, spread=0.3):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 3
    y = torch.arange(n) % c
    return centers[y] + spread * torch.randn(n, d, generator=g), y


def test_linear_probe_separates_blobs_and_fails_on_noise():
    x_all, y_all = _blobs(n=600)
    r = linear_probe(x_all[:300], y_all[:300], x_all[300:], y_all[300:], epochs=30,
                     generator=torch.Generator().manual_seed(0))
    assert r.test_acc == 100.0
    noise = torch.randn(600, 8, generator=torch.Generator().manual_seed(3))
    r = linear_probe(noise[:300], y_all[:300], noise[300:], y_all[300:], epochs=30,
                     generator=torch.Generator().manual_seed(0))
    assert r.test_acc < 50


def test_returned_classifier_acts_on_raw_features():
    x_all, y_all = _blobs(n=600)
    x_all = x_all * 5 + 3                      # far from standardised
    r = linear_probe(x_all[:300], y_all[:300], x_all[300:], y_all[300:], epochs=30,
                     generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        acc = (r.classifier(x_all[300:]).argmax(1) == y_all[300:]).float().mean().item() * 100
    assert acc == r.test_acc


def test_linear_probe_rejects_bad_input():
    x, y = _blobs()
    with pytest.raises(ValueError, match=r"labels must be \(300,\)"):
        linear_probe(x, y[:10], x, y)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(bad, y, x, y)


def test_knn_closed_case():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    test = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    assert knn_accuracy(train, labels, test, torch.tensor([0, 1]), k=2) == 100.0
    assert knn_accuracy(train, labels, test, torch.tensor([1, 0]), k=2, tau=None) == 0.0


def test_extract_features_batches_and_restores_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.BatchNorm1d(5))
    net.train()
    x = torch.rand(10, 3, 2, 2)
    f = extract_features(net, x, batch_size=3)
    assert f.shape == (10, 5) and net.training
    net.eval()
    torch.testing.assert_close(f, net(x))


def test_project_2d_by_pca_and_tsne():
    import numpy as np

    from reprobook.eval import project_2d

    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[8.0, 0, 0, 0], [0, 8.0, 0, 0], [0, 0, 8.0, 0]])
    labels = torch.arange(3).repeat_interleave(20)
    x = centers[labels] + torch.randn(60, 4, generator=g)
    for method in ("pca", "tsne"):
        p = project_2d(x, method)
        assert p.shape == (60, 2) and np.isfinite(p).all()
        means = np.stack([p[labels.numpy() == c].mean(0) for c in range(3)])
        spread = max(p[labels.numpy() == c].std(0).max() for c in range(3))
        assert np.linalg.norm(means[0] - means[1]) > 2 * spread           # the clusters stay apart
    # PCA's axes have a fixed sign: the largest-magnitude loading of each is positive
    pca, centred = project_2d(x, "pca"), (x - x.mean(0)).double().numpy()
    loadings = np.linalg.lstsq(centred, pca, rcond=None)[0]                # (D, 2)
    assert (loadings[np.abs(loadings).argmax(0), [0, 1]] > 0).all()
    assert np.array_equal(project_2d(x, "tsne", seed=3), project_2d(x, "tsne", seed=3))
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(x, "umap")
    with pytest.raises(ValueError, match=r"\(N, D\) with N >= 3"):
        project_2d(x[:2], "pca")
    with pytest.raises(ValueError, match="NaN"):
        project_2d(torch.full((5, 2), float("nan")), "pca")
    for degenerate in (torch.zeros(5, 4), torch.arange(5.0)[:, None].repeat(1, 3)):    # a point, a line
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            project_2d(degenerate, "tsne")
