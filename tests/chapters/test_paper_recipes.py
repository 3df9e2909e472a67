"""`paper` means the official recipe: each chapter's paper configuration against a table of the
official repositories' hyper-parameters (see ../shared/papers/REFERENCE.md and the chapters'
"Deviations" sections for every difference that remains, with its reason)."""
import math

import pytest

from reprobook.chapters import cmc
from reprobook.chapters import infomin
from reprobook.chapters import evf, omnipush
from reprobook.chapters import gan_steerability as gsteer
from reprobook.chapters import neural_mmo as nmmo
from reprobook.chapters import rfs
from reprobook.chapters import hypersphere as hs
from reprobook.chapters import supcon as sc

# SsnL/align_uniform examples/stl10/main.py (defaults of parse_option and get_data_loader)
HYPERSPHERE_OFFICIAL = {
    "batch_size": 768,
    "epochs": 200,
    "lr": 0.12 * 768 / 256,            # "linear scaling 0.12 per 256 batch size"
    "lr_milestones": [155, 170, 185],  # MultiStepLR
    "lr_decay": 0.1,
    "weight_decay": 1e-4,
    "warmup_epochs": 0,
    "out_dim": 128,                    # feat_dim
    "aug_scale": 0.08,                 # RandomResizedCrop(64, scale=(0.08, 1))
    "jitter": (0.4, 0.4, 0.4, 0.4),    # ColorJitter(0.4, 0.4, 0.4, 0.4), always applied
    "jitter_p": 1.0,
    "gray_p": 0.2,                     # RandomGrayscale(p=0.2)
    "lam": 1.0, "alpha": 2.0, "t": 2.0,  # align_w = unif_w = 1, align_alpha = 2, unif_t = 2
}

# HobbitLong/SupContrast: losses.py, main_supcon.py, main_ce.py, README
SUPCON_OFFICIAL = {
    "encoder": {"name": "resnet50"},
    "batch_size": 1024,
    "lr": 0.5,
    "epochs": 1000,
    "weight_decay": 1e-4,
    "tau": 0.1,
    "simclr_tau": 0.5,
    "base_tau": 0.07,                  # SupConLoss(base_temperature=0.07), kept by the training script
    "warmup_epochs": 10,
    "warmup_above_batch": 256,         # `if opt.batch_size > 256: opt.warm = True`
    "ce_lr": 0.8,                      # README: cross-entropy with lr 0.8
    "ce_epochs": 500,                  # main_ce.py default
    "out_dim": 128,
}


@pytest.mark.parametrize("notebook", list(hs.CONFIGS))
def test_hypersphere_paper_is_the_official_stl10_recipe(notebook):
    cfg = hs.config(notebook, "paper")
    for key, official in HYPERSPHERE_OFFICIAL.items():
        if key in ("lam", "alpha", "t") and key not in cfg:
            continue                    # the method and sweep notebooks set their own
        if key == "out_dim" and notebook == "plots":
            assert cfg[key] == 2        # the paper's Fig. 3: encoders with 2-d output on S^1
            continue
        value = cfg[key]
        assert value == (pytest.approx(official) if isinstance(official, float) else official), (notebook, key)


@pytest.mark.parametrize("notebook", [n for n in sc.CONFIGS if n != "stability"])
def test_supcon_paper_is_the_official_recipe(notebook):
    cfg = sc.config(notebook, "paper")
    for key, official in SUPCON_OFFICIAL.items():
        assert cfg[key] == official, (notebook, key, cfg[key], official)


def test_supcon_stability_sweeps_around_the_official_recipe():
    cfg = sc.config("stability", "paper")
    assert 1024 in cfg.batch_sizes and 0.1 in cfg.taus
    assert cfg.warmup_above_batch == 256 and cfg.base_tau == 0.07



# HobbitLong/CMC train_CMC.py (and README: views L | ab)
CMC_OFFICIAL = dict(K=16384, tau=0.07, momentum=0.5, out_dim=128, batch_size=128, epochs=240, lr=0.03,
                    weight_decay=1e-4, lr_milestones=[120, 160, 200], lr_decay=0.1, crop_scale=0.08, warmup_epochs=0)


@pytest.mark.parametrize("notebook", [n for n in cmc.CONFIGS if n != "method"])
def test_cmc_paper_is_the_official_recipe(notebook):
    cfg = cmc.config(notebook, "paper")
    for key, official in CMC_OFFICIAL.items():
        assert cfg[key] == official, (notebook, key, cfg[key], official)
    assert cfg.train_per_class is None and cfg.encoder == {"name": "resnet50", "width": 0.5, "stem_channels": 64}


# HobbitLong/PyContrast, the InfoMin run of docs/RUN.md (options/base_options.py, train_options.py)
INFOMIN_AUG_OFFICIAL = dict(batch_size=256, lr=0.03, epochs=200, weight_decay=1e-4, tau=0.15, out_dim=128,
                            lr_milestones=None)   # --cosine


def test_infomin_paper_views_use_cmcs_stl10_recipe():
    for notebook in ("reverse_u", "learned"):
        cfg = infomin.config(notebook, "paper")
        assert cfg.dataset == "stl10" and cfg.objective == "bank"
        for key, official in dict(CMC_OFFICIAL, tau=0.1, crop_scale=0.2).items():    # T 0.1 on STL-10 (README)
            assert cfg[key] == official, (notebook, key, cfg[key], official)


def test_infomin_paper_augmentation_is_pycontrasts_infomin_run():
    cfg = infomin.config("augmentation", "paper")
    for key, official in INFOMIN_AUG_OFFICIAL.items():
        assert cfg[key] == official, (key, cfg[key], official)
    assert cfg.hidden_dim == 256        # Linear(dim_in, dim_in): a half-width ResNet-18 has 256 features


STAGING_AND_INSTALLS_S = 60      # three device calls' installs and copies, measured-free estimate


@pytest.mark.parametrize("module", [cmc, hs, infomin, sc, rfs, gsteer, omnipush, evf, nmmo])
def test_a_chapters_short_run_is_budgeted_to_one_gpu_window(module):
    """Every notebook states its short budget, and a chapter fits 8 minutes with its staging."""
    assert set(module.SHORT_BUDGET_S) == set(module.CONFIGS)
    assert sum(module.SHORT_BUDGET_S.values()) + STAGING_AND_INSTALLS_S <= 8 * 60


def test_rfs_paper_is_the_official_recipe():
    """WangYueFt/rfs: train_supervised.py / train_distillation.py defaults, the CIFAR schedule of the
    repository's issue #5 (90 epochs, x0.1 at 45, 60, 75), run.sh's -r 0.5 -a 0.5, eval_fewshot.py's protocol."""
    for notebook in ("benchmark", "ablations", "features"):
        cfg = rfs.config(notebook, "paper")
        official = dict(datasets=["cifar-fs", "fc100"], model="resnet12",
                        model_kw={"dropblock_mask": "official", "anneal_steps": 13_333},
                        train_per_class=None, eval_per_class=None, epochs=90, batch_size=64, lr=0.05,
                        weight_decay=5e-4, lr_milestones=[45, 60, 75], lr_decay=0.1, warmup_epochs=0, generations=2,
                        gamma=0.5, alpha=0.5, kd_T=4.0, n_way=5, shots=[1, 5], n_query=15, n_episodes=1000, n_aug=5,
                        classifier="LR", normalize=True)
        assert {k: cfg[k] for k in official} == official
    assert rfs.PAPER_TABLE[("cifar-fs", "distill")] == {1: (73.9, 0.8), 5: (86.9, 0.5)}
    # DropBlock reaches its full rate at the official epoch: 40,000 passes of which 1,200 per epoch
    # were the official validate()'s (CIFAR-FS: 38,400 images, 600 steps at batch 64)
    steps, evals = 38_400 // 64, -(-38_400 // 32)
    assert abs(rfs.PAPER_ANNEAL_STEPS - 40_000 * steps / (steps + evals)) < 1
    short = rfs.config("benchmark", "short")
    assert short.model_kw["anneal_steps"] == round(13_333 * 12 / 90 * 64 / 256) and short.batch_size == 256


# NeuralMMO/environment v1.3: experiments.py (Config) and forge/blade/core/config.py
NMMO_OFFICIAL = {"size": 62, "border": 9, "max_agents": 128, "hidden": 32, "decisions": 16384, "workers": 12,
                 "lr": 3e-4, "weight_decay": 1e-5, "grad_clip": 5.0, "gamma": 0.95}


@pytest.mark.parametrize("notebook", list(nmmo.CONFIGS))
def test_neural_mmo_paper_is_v13(notebook):
    cfg = nmmo.config(notebook, "paper")
    for key, official in NMMO_OFFICIAL.items():
        assert cfg[key] == official, (notebook, key)
    assert 8 in cfg.populations and cfg.sizes == [1, 8, 32, 128]    # NPOP = 8; the exploration figure


# ali-design/gan_steerability: train.py, options/train_options.py, graphs/*/constants.py (BATCH_SIZE 4),
# config/biggan_*_linear.yml (lr 1e-4 colour and zoom, 1e-3 shifts and rotations),
# config/biggan_*_nonlinear.yml (colour: lr 1e-3, eps 0.1, num_steps 5; zoom: eps 1.41, 4 steps;
# shifts 25 px and rotations 10°, 5 steps, lr 1e-4); steer_aug/DCGAN-tensorflow/model_argminGW2_rot2d.py
# (λ = 1, the walk's Adam at the GAN's lr, g_optim twice); the PyTorch DCGAN tutorial (Adam 2e-4,
# betas 0.5/0.999, batch 128, ngf = ndf = 64)
STEER_OFFICIAL = {"walk_steps": 20000 // 4, "walk_batch": 4,
                  "walk_lr": {"zoom": 1e-4, "shiftx": 1e-3, "rotate2d": 1e-3, "brightness": 1e-4},
                  "nn_lr": {"zoom": 1e-4, "shiftx": 1e-4, "rotate2d": 1e-4, "brightness": 1e-3},
                  "nn_steps": {"zoom": 4, "shiftx": 5, "rotate2d": 5, "brightness": 5},
                  "gan_lr": 2e-4, "gan_batch": 128, "ngf": 64, "nz": 100, "lam": 1.0, "joint_walk_lr": 2e-4,
                  "gan_g_steps": 2}


@pytest.mark.parametrize("notebook", list(gsteer.CONFIGS))
def test_gan_steerability_paper_is_the_official_recipe(notebook):
    cfg = gsteer.config(notebook, "paper")
    for key, official in STEER_OFFICIAL.items():
        assert cfg[key] == official, (notebook, key)
    assert cfg.cifar_walk_steps == cfg.walk_steps and cfg.train_per_class is None
    # ε per step: colour 0.1; zoom a factor 1.41 (√2 here); 25 px of BigGAN's 256; 10° (walk coordinates)
    assert cfg.nn_eps["brightness"] == 0.1 and math.exp(cfg.nn_eps["zoom"]) == pytest.approx(1.41, abs=0.01)
    assert cfg.nn_eps["shiftx"] * 128 == pytest.approx(25) and cfg.nn_eps["rotate2d"] * 45 == pytest.approx(10)
