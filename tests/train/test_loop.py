"""The training loop: resume gives the uninterrupted result, NaN is a clear error, seeds repeat."""
import pytest
import torch

from reprobook.data import TensorBatches, simclr_augment
from reprobook.train import NonFiniteLossError, make_generator, seed_everything, train, warmup_cosine


def _setup(seed=0):
    seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    g = make_generator(seed)
    x = torch.randint(0, 256, (24, 3, 12, 12), dtype=torch.uint8, generator=make_generator(99))
    y = torch.arange(24) % 3
    batches = TensorBatches(x, y, 8, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = warmup_cosine(opt, total_steps=4 * len(batches), warmup_steps=2)
    aug = simclr_augment(size=10)

    def loss_fn(batch):
        xb, yb, _ = batch
        return torch.nn.functional.cross_entropy(model(aug(xb, g)), yb)

    return model, loss_fn, batches, opt, sched, g


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    model, loss_fn, batches, opt, sched, g = _setup()
    full = train(model, loss_fn, batches, epochs=4, optimizer=opt, scheduler=sched, generators=[g],
                 progress=False)
    expected = _params(model)

    ckpt = tmp_path / "run.pt"
    model, loss_fn, batches, opt, sched, g = _setup()
    calls = {"n": 0}

    def crashing(batch):                       # dies in the middle of epoch 3
        calls["n"] += 1
        if calls["n"] == 2 * len(batches) + 2:
            raise KeyboardInterrupt
        return loss_fn(batch)

    with pytest.raises(KeyboardInterrupt):
        train(model, crashing, batches, epochs=4, optimizer=opt, scheduler=sched, generators=[g],
              checkpoint=ckpt, progress=False)
    model, loss_fn, batches, opt, sched, g = _setup()      # a fresh process would rebuild everything
    resumed = train(model, loss_fn, batches, epochs=4, optimizer=opt, scheduler=sched, generators=[g],
                    checkpoint=ckpt, progress=False)
    assert resumed.resumed_from_epoch == 2
    torch.testing.assert_close(_params(model), expected, rtol=0, atol=0)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history])


def test_same_seed_same_result():
    results = []
    for _ in range(2):
        model, loss_fn, batches, opt, sched, g = _setup(seed=3)
        train(model, loss_fn, batches, epochs=2, optimizer=opt, scheduler=sched, generators=[g], progress=False)
        results.append(_params(model))
    assert torch.equal(results[0], results[1])


def test_nan_loss_is_a_clear_error():
    model, loss_fn, batches, opt, sched, g = _setup()
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 1.*learning rate"):
        train(model, lambda b: loss_fn(b) * float("nan"), batches, epochs=1, optimizer=opt, progress=False)


def test_history_has_epoch_means_and_lr():
    model, loss_fn, batches, opt, sched, g = _setup()
    r = train(model, lambda b: (loss_fn(b), {"twice": 2 * loss_fn(b)}), batches, epochs=2, optimizer=opt,
              scheduler=sched, generators=[g], progress=False)
    assert [h["epoch"] for h in r.history] == [1, 2] and r.steps == 2 * len(batches)
    assert set(r.history[0]) >= {"loss", "twice", "lr"}


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (print, ("this ran inside torch.load",))


def test_a_checkpoint_carrying_an_arbitrary_object_is_refused(tmp_path, capsys):
    from reprobook.train.checkpoint import UnsafeCheckpointError, load_checkpoint

    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _RunsCodeWhenUnpickled()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_checkpoint(path)
    assert "this ran" not in capsys.readouterr().out
