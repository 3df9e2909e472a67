"""The training recipes the chapters build on, both on device-resident uint8 data.

* :func:`fit_supervised`: cross-entropy on one augmented view (the supervised baselines).
* :func:`fit_two_views`: an objective on the embeddings of two augmented views of each image
  (contrastive, align + uniform, SimCLR, SupCon, ...).
* :func:`fit_multiview`: CMC, one augmented crop split into views (colour channels), one encoder
  per view, and a memory-bank objective indexed by the samples' positions.
* :func:`fit_view_generator`: InfoMin's adversarial view learning, a flow against two encoders.
* :func:`fit_distill` (and :func:`fit_distill_init`, the init stage of AB, FT, FSP): a student
  against a frozen teacher, cross-entropy + KD + a distiller (CRD).

All use SGD with momentum and a warm-up + cosine schedule (or, with ``lr_milestones``, a step
schedule: the lr times ``lr_decay`` at each milestone epoch, as the papers' MultiStepLR), and
:func:`reprobook.train.train` for progress, autocast, NaN checks and checkpoint/resume.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..data.batches import TensorBatches
from .loop import TrainResult, train
from .schedules import multistep, warmup_cosine


def sgd_with_schedule(model: torch.nn.Module, lr: float, weight_decay: float, momentum: float,
                      total_steps: int, warmup_steps: int = 0, milestone_steps=None, lr_decay: float = 0.1):
    """SGD (momentum, weight decay) and a per-step schedule: warm-up + cosine, or, when
    ``milestone_steps`` is given, the lr times ``lr_decay`` at each of them."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if milestone_steps is not None:
        if warmup_steps:
            raise ValueError("a step schedule has no warm-up here (the official ones have none)")
        return opt, multistep(opt, milestone_steps, lr_decay)
    return opt, warmup_cosine(opt, total_steps, warmup_steps)


def _setup(model, images, labels, batch_size, epochs, lr, weight_decay, momentum, warmup_epochs, generator,
           lr_milestones=None, lr_decay=0.1):
    batches = TensorBatches(images, labels, batch_size, shuffle=True, drop_last=True, generator=generator)
    milestones = None if lr_milestones is None else [m * len(batches) for m in lr_milestones]
    opt, sched = sgd_with_schedule(model, lr, weight_decay, momentum, epochs * len(batches),
                                   warmup_epochs * len(batches), milestones, lr_decay)
    return batches, opt, sched


def fit_supervised(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                   augment: Callable, epochs: int, batch_size: int, lr: float, weight_decay: float = 5e-4,
                   momentum: float = 0.9, warmup_epochs: int = 0, generator: torch.Generator,
                   lr_milestones=None, lr_decay: float = 0.1,
                   checkpoint=None, progress: bool = True, desc: str = "supervised") -> TrainResult:
    """Minimise cross-entropy of ``model(augment(x))`` (logits ``(B, C)``) against the labels."""
    batches, opt, sched = _setup(model, images, labels, batch_size, epochs, lr, weight_decay,
                                 momentum, warmup_epochs, generator, lr_milestones, lr_decay)

    def loss_fn(batch):
        x, y, _ = batch
        logits = model(augment(x, generator))
        loss = F.cross_entropy(logits.float(), y)
        return loss, {"acc": (logits.argmax(1) == y).float().mean() * 100}

    return train(model, loss_fn, batches, epochs=epochs, optimizer=opt, scheduler=sched,
                 generators=[generator], checkpoint=checkpoint, progress=progress, desc=desc)


def fit_two_views(model: torch.nn.Module, objective: Callable, images: torch.Tensor, labels: torch.Tensor, *,
                  augment: Callable, epochs: int, batch_size: int, lr: float, weight_decay: float = 1e-4,
                  momentum: float = 0.9, warmup_epochs: int = 0, generator: torch.Generator,
                  lr_milestones=None, lr_decay: float = 0.1,
                  checkpoint=None, progress: bool = True, desc: str = "two views") -> TrainResult:
    """Minimise ``objective(z1, z2, labels)`` on ``z = model(view)`` of two views per image.

    Both views go through the model in one forward pass (one batch-norm batch of 2B, as in
    SupContrast). ``objective`` returns a loss or ``(loss, metrics)``.
    """
    batches, opt, sched = _setup(model, images, labels, batch_size, epochs, lr, weight_decay,
                                 momentum, warmup_epochs, generator, lr_milestones, lr_decay)

    def loss_fn(batch):
        x, y, _ = batch
        views = torch.cat([augment(x, generator), augment(x, generator)])     # (2B, 3, H, W)
        z1, z2 = model(views).float().chunk(2)                                  # (B, D) each
        return objective(z1, z2, y)

    return train(model, loss_fn, batches, epochs=epochs, optimizer=opt, scheduler=sched,
                 generators=[generator], checkpoint=checkpoint, progress=progress, desc=desc)


def fit_multiview(model: torch.nn.Module, contrast: torch.nn.Module, to_views: Callable, images: torch.Tensor,
                  labels: torch.Tensor, *, augment: Callable, epochs: int, batch_size: int, lr: float,
                  weight_decay: float = 1e-4, momentum: float = 0.9, warmup_epochs: int = 0,
                  generator: torch.Generator, lr_milestones=None, lr_decay: float = 0.1,
                  checkpoint=None, progress: bool = True, desc: str = "multiview") -> TrainResult:
    """Minimise ``contrast(model(to_views(augment(x))), index)`` (CMC).

    ``augment`` maps uint8 images to one augmented crop (floats in [0, 1]), ``to_views`` splits it
    into the views (e.g. :class:`reprobook.data.colorspaces.ColorViews`), ``model`` embeds each
    view (:class:`reprobook.models.MultiviewEncoder`) and ``contrast`` scores them against its
    memory banks (:class:`reprobook.losses.MultiviewContrast`), which are checkpointed with the
    model. Only the model's parameters are optimised.
    """
    batches, opt, sched = _setup(model, images, labels, batch_size, epochs, lr, weight_decay,
                                 momentum, warmup_epochs, generator, lr_milestones, lr_decay)
    both = torch.nn.ModuleDict({"model": model, "contrast": contrast})   # one state: weights and banks

    def loss_fn(batch):
        x, _, index = batch
        z = model(to_views(augment(x, generator)))
        return contrast([zi.float() for zi in z], index, generator=generator)

    return train(both, loss_fn, batches, epochs=epochs, optimizer=opt, scheduler=sched,
                 generators=[generator], checkpoint=checkpoint, progress=progress, desc=desc)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """The identity forward, ``-weight`` times the gradient backward (Ganin & Lempitsky 2015): what
    lies before it maximises the loss that what lies after it minimises."""
    return _ReverseGradient.apply(x, float(weight))


class Optimizers:
    """Several optimisers stepped as one (what :func:`reprobook.train.train` expects of its
    ``optimizer``): ``param_groups`` are the first one's (its lr is the one reported)."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        if not optimizers:
            raise ValueError("Optimizers needs at least one optimiser")
        self.optimizers = list(optimizers)

    @property
    def param_groups(self):
        return self.optimizers[0].param_groups

    def zero_grad(self, set_to_none: bool = True):
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        for opt in self.optimizers:
            opt.step()

    def state_dict(self):
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state):
        if not isinstance(state, dict) or "optimizers" not in state:
            raise ValueError("not the state of an Optimizers (a dict with 'optimizers'): was the checkpoint "
                             "written by another recipe?")
        if len(state["optimizers"]) != len(self.optimizers):
            raise ValueError(f"the state holds {len(state['optimizers'])} optimisers, this has {len(self.optimizers)}")
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)


def fit_view_generator(flow: torch.nn.Module, encoders: torch.nn.Module, contrast: torch.nn.Module,
                       to_input: Callable, images: torch.Tensor, labels: torch.Tensor, *, augment: Callable,
                       epochs: int, batch_size: int, lr: float, classifiers: torch.nn.ModuleList | None = None,
                       flow_lr: float = 1e-3, adversary_weight: float = 1.0, weight_decay: float = 1e-4,
                       momentum: float = 0.9,
                       warmup_epochs: int = 0, generator: torch.Generator, lr_milestones=None, lr_decay: float = 0.1,
                       checkpoint=None, progress: bool = True, desc: str = "view generator") -> TrainResult:
    r"""InfoMin's view learning (Tian et al. 2020, Sec. 4.1) and its semi-supervised form:

    .. math:: \min_{g,\,c_1,\,c_2}\ \max_{f_1, f_2}\ I_\text{NCE}\big(f_1(g(X)_1); f_2(g(X)_{2:3})\big)
              + \mathcal{L}_\text{ce}(c_1(g(X)_1), y) + \mathcal{L}_\text{ce}(c_2(g(X)_{2:3}), y)

    ``flow`` (:class:`reprobook.models.flow.PixelFlow`) maps ``to_input(augment(x))`` (the crop
    in the input colour space) to two views; ``encoders`` (a
    :class:`reprobook.models.MultiviewEncoder`) embed them and minimise ``contrast`` (:math:`=
    \log K - I_\text{NCE}`), while the flow, behind :func:`reverse_gradient`, maximises it
    (``adversary_weight`` scales its share). With ``classifiers`` (one per view, reading the view
    itself), the flow and the classifiers also minimise the cross-entropy: the semi-supervised
    views keep what the labels need (labels ``-1`` are unlabelled and skipped); without, the
    views are learned unsupervised. One backward per step; the encoders and classifiers take SGD
    steps (``lr``, the schedule), the flow Adam steps (``flow_lr``, betas 0.5 and 0.999, no weight
    decay, as GAN generators): the flow's few parameters collect gradients from every pixel, and
    at the encoders' SGD lr they outrun the encoders, which then never learn (measured: the
    batch :math:`I_\text{NCE}` stayed near 0 for 12 epochs even with the reversed gradient
    scaled by 0.03).
    """
    players = {"encoders": encoders, "contrast": contrast}
    if classifiers is not None:
        if len(classifiers) != 2:
            raise ValueError(f"classifiers must hold one network per view (2), got {len(classifiers)}")
        players["classifiers"] = classifiers
    players = torch.nn.ModuleDict(players)
    state = torch.nn.ModuleDict({"flow": flow, **players})
    batches, opt, sched = _setup(players, images, labels, batch_size, epochs, lr, weight_decay, momentum,
                                 warmup_epochs, generator, lr_milestones, lr_decay)
    opt = Optimizers(opt, torch.optim.Adam(flow.parameters(), lr=flow_lr, betas=(0.5, 0.999)))

    def loss_fn(batch):
        x, y, index = batch
        views = flow.views(to_input(augment(x, generator)))                        # [(B, 1, H, W), (B, 2, H, W)]
        z = encoders([reverse_gradient(v, adversary_weight) for v in views])
        loss, metrics = contrast([zi.float() for zi in z], index, generator=generator)
        labelled = y >= 0                                                          # labels -1: unlabelled
        if classifiers is not None and bool(labelled.any()):
            logits = [c(v).float() for c, v in zip(classifiers, views)]
            ce = sum(F.cross_entropy(lg, y, ignore_index=-1) for lg in logits)
            metrics.update(ce=ce, **{f"acc view {k + 1}": (lg.argmax(1) == y)[labelled].float().mean() * 100
                                     for k, lg in enumerate(logits)})
            loss = loss + ce
        return loss, metrics

    return train(state, loss_fn, batches, epochs=epochs, optimizer=opt, scheduler=sched,
                 generators=[generator], checkpoint=checkpoint, progress=progress, desc=desc)


def _both_features(student, teacher, x, preact: bool):
    """``(feat_s, logit_s), (feat_t, logit_t)`` of ``model(x, is_feat=True)``; the teacher without gradients."""
    student_out = student(x, is_feat=True, preact=preact)
    with torch.no_grad():
        teacher_out = teacher(x, is_feat=True, preact=preact)
    return student_out, teacher_out


def fit_distill(student: torch.nn.Module, teacher: torch.nn.Module, distiller, images: torch.Tensor,
                labels: torch.Tensor, *, augment: Callable, epochs: int, batch_size: int, lr: float,
                weight_decay: float = 5e-4, momentum: float = 0.9, sample_fn: Callable | None = None,
                warmup_epochs: int = 0, generator: torch.Generator, lr_milestones=None, lr_decay: float = 0.1,
                checkpoint=None, progress: bool = True, desc: str = "distill") -> TrainResult:
    """Train ``student`` against a frozen ``teacher`` on ``distiller.objective`` =
    ``gamma·CE + alpha·KD + beta·distiller`` (RepDistiller ``train_student.py``); ``distiller``
    None is the student alone (cross-entropy). Both models see the same augmented batch, the
    teacher in eval mode without gradients; the distiller reads their ``is_feat=True`` features
    (pre-activation ones if it ``needs_preact``) and its ``trainable_modules()`` are optimised with
    the student (weight decay on all, as the official optimiser). ``sample_fn(index)`` gives
    CRD's ``(B, 1 + K)`` contrast rows."""
    teacher.eval().requires_grad_(False)
    extra = distiller.trainable_modules("main") if distiller is not None else []
    trainable = torch.nn.ModuleList([student, *extra])
    batches, opt, sched = _setup(trainable, images, labels, batch_size, epochs, lr, weight_decay, momentum,
                                 warmup_epochs, generator, lr_milestones, lr_decay)
    preact = bool(getattr(distiller, "needs_preact", False))
    state = torch.nn.ModuleDict({"student": student, **({"distiller": distiller} if distiller is not None else {})})

    def loss_fn(batch):
        x, y, index = batch
        (feat_s, logit_s), (feat_t, logit_t) = _both_features(student, teacher, augment(x, generator), preact)
        logit_s, logit_t = logit_s.float(), logit_t.float()
        ce = F.cross_entropy(logit_s, y)
        metrics = {"ce": ce, "acc": (logit_s.argmax(1) == y).float().mean() * 100}
        if distiller is None:
            return ce, metrics
        sample_idx = sample_fn(index) if sample_fn is not None else None
        dist = distiller([f.float() for f in feat_s], [f.float() for f in feat_t], logit_s, logit_t, index=index,
                         sample_idx=sample_idx, generator=generator)
        metrics["distill"] = dist
        return distiller.objective(ce, dist, logit_s, logit_t), metrics

    return train(state, loss_fn, batches, epochs=epochs, optimizer=opt, scheduler=sched,
                 generators=[generator], checkpoint=checkpoint, progress=progress, desc=desc)


def fit_distill_init(student: torch.nn.Module, teacher: torch.nn.Module, distiller, images: torch.Tensor,
                     labels: torch.Tensor, *, augment: Callable, epochs: int, batch_size: int, lr: float,
                     weight_decay: float = 5e-4, momentum: float = 0.9, generator: torch.Generator,
                     progress: bool = True, desc: str = "init stage") -> TrainResult:
    """The init stage of AB, FT and FSP (RepDistiller ``helper/pretrain.py``): train the
    distiller's init modules (and, for AB and FSP, the student's feature layers) on
    ``distiller.init_loss`` for ``epochs`` epochs (official: 30) with constant-lr SGD. As the
    official, the student is in eval mode except the layers being trained (its other batch-norm
    statistics stay as they are)."""
    if not getattr(distiller, "needs_init", False):
        raise ValueError(f"{getattr(distiller, 'name', distiller)!r} has no init stage")
    teacher.eval().requires_grad_(False)
    modules = list(distiller.trainable_modules("init"))
    if distiller.init_trains_student_features:
        modules.append(student.get_feat_modules())
    trainable = torch.nn.ModuleList(modules)
    batches = TensorBatches(images, labels, batch_size, shuffle=True, drop_last=True, generator=generator)
    opt = torch.optim.SGD(trainable.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    preact = bool(distiller.needs_preact)

    def loss_fn(batch):
        x, _, _ = batch
        student.eval()                               # model_s.eval(); init_modules.train() (pretrain.py)
        trainable.train()
        (feat_s, _), (feat_t, _) = _both_features(student, teacher, augment(x, generator), preact)
        return distiller.init_loss([f.float() for f in feat_s], [f.float() for f in feat_t])

    state = torch.nn.ModuleDict({"student": student, "distiller": distiller})
    return train(state, loss_fn, batches, epochs=epochs, optimizer=opt, generators=[generator], progress=progress,
                 desc=desc)
