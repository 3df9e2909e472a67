"""DCGAN (Radford et al. 2016) in the layout of the PyTorch DCGAN tutorial, and the pretrained
64x64 face generator shipped inside the ``gan-face-generate`` wheel.

The generator maps a latent code to an image through transposed convolutions, each doubling the
resolution::

    z (B, nz) -> (B, nz, 1, 1) -> ConvT 4x4 -> (B, 8·ngf, 4, 4) -> ... -> ConvT -> tanh -> (B, nc, S, S)

with batch norm and ReLU between layers and ``x = tanh(·) ∈ [-1, 1]``. ``size=64`` is the tutorial's
network (four up-samplings after the 4x4 seed, ``8·ngf, 4·ngf, 2·ngf, ngf`` channels); ``size=32``
(CIFAR-10) drops one up-sampling (``4·ngf, 2·ngf, ngf``). Parameters live in ``self.main`` with the
tutorial's indices (``main.0.weight``, ``main.1.running_mean``, ...), so the tutorial's state dicts,
and the face weights below, load without renaming.

Weights are initialised as in DCGAN (``weights_init``): convolutions ``N(0, 0.02)``, batch-norm
scales ``N(1, 0.02)`` and shifts 0.
"""
from __future__ import annotations

import importlib
import importlib.resources
import pickle

import torch
from torch import nn

FACE_PACKAGE = "gan-face-generate==1.1.1"
# the hyper-parameters of the face model, from gan_face_generate/inference.py (nc = 3, nz = 100, ngf = 64)
FACE_NZ, FACE_NGF, FACE_NC = 100, 64, 3


def weights_init(m: nn.Module) -> None:
    """DCGAN initialisation, for ``module.apply(weights_init)``: every (transposed) convolution's
    weight ~ N(0, 0.02); every batch norm's weight ~ N(1, 0.02) and bias = 0."""
    name = type(m).__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _check_size(size: int) -> int:
    if size not in (32, 64):
        raise ValueError(f"size must be 32 (CIFAR-10) or 64 (the DCGAN tutorial / faces), got {size!r}")
    return size


def _check_positive(**kwargs) -> None:
    for name, value in kwargs.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class Generator(nn.Module):
    """DCGAN generator ``G: R^nz -> [-1, 1]^{nc x size x size}``.

    ``forward`` takes ``z`` of shape ``(B, nz)`` (or the tutorial's ``(B, nz, 1, 1)``) and returns
    ``(B, nc, size, size)``.
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, size: int = 64):
        super().__init__()
        _check_positive(nz=nz, ngf=ngf, nc=nc)
        self.nz, self.ngf, self.nc, self.size = nz, ngf, nc, _check_size(size)
        mult = 8 if size == 64 else 4                       # channels of the 4x4 seed: mult·ngf
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]      # (B, mult·ngf, 4, 4)
        while mult > 1:                                     # each block doubles H, W and halves channels
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]    # (B, nc, size, size)
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:    # (B, nz) or (B, nz, 1, 1) -> (B, nc, S, S)
        if z.ndim == 2 and z.shape[1] == self.nz:
            z = z[:, :, None, None]
        elif not (z.ndim == 4 and z.shape[1:] == (self.nz, 1, 1)):
            raise ValueError(f"z must have shape (B, {self.nz}) or (B, {self.nz}, 1, 1), got {tuple(z.shape)}")
        return self.main(z)


class Discriminator(nn.Module):
    """DCGAN discriminator ``D: [-1, 1]^{nc x size x size} -> R`` (a logit).

    The tutorial's layout (strided 4x4 convolutions, LeakyReLU(0.2), batch norm on all but the first
    layer, channels ``ndf, 2·ndf, 4·ndf, 8·ndf`` for 64x64; ``ndf, 2·ndf, 4·ndf`` for 32x32) without its
    final ``Sigmoid``: ``forward`` returns logits of shape ``(B,)``, to be used with
    ``BCEWithLogitsLoss`` (the same loss, numerically safer). Parameter names match the tutorial's.
    """

    def __init__(self, ndf: int = 64, nc: int = 3, size: int = 64):
        super().__init__()
        _check_positive(ndf=ndf, nc=nc)
        self.ndf, self.nc, self.size = ndf, nc, _check_size(size)
        top = 8 if size == 64 else 4
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1                                            # (B, ndf, size/2, size/2)
        while mult < top:                                   # each block halves H, W and doubles channels
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ndf * mult * 2), nn.LeakyReLU(0.2, inplace=True)]
            mult *= 2
        layers += [nn.Conv2d(ndf * top, 1, 4, 1, 0, bias=False)]                  # (B, 1, 1, 1)
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:    # (B, nc, S, S) -> (B,) logits
        if x.ndim != 4 or x.shape[1:] != (self.nc, self.size, self.size):
            raise ValueError(f"x must have shape (B, {self.nc}, {self.size}, {self.size}), got {tuple(x.shape)}")
        return self.main(x).flatten()


def face_weights_path():
    """The ``weights.tar`` inside the installed ``gan_face_generate`` package (a Traversable);
    nothing is downloaded. A clear ``ImportError`` when the package is missing."""
    try:
        importlib.import_module("gan_face_generate")
    except ImportError as e:
        raise ImportError(f"the pretrained face DCGAN needs the package {FACE_PACKAGE!r}, which ships the "
                          f"weights inside its wheel: pip install {FACE_PACKAGE}") from e
    path = importlib.resources.files("gan_face_generate") / "weights.tar"
    if not path.is_file():
        raise FileNotFoundError(f"gan_face_generate is installed but has no weights.tar ({path}); "
                                f"reinstall it: pip install --force-reinstall {FACE_PACKAGE}")
    return path


def save_generator(G: Generator, path) -> None:
    """Save ``G`` in the checkpoint format of the face weights (``{"netG_state_dict": ...}``) plus
    its hyper-parameters, so that :func:`load_generator` reads ours and theirs alike."""
    torch.save({"netG_state_dict": G.state_dict(),
                "config": dict(nz=G.nz, ngf=G.ngf, nc=G.nc, size=G.size)}, path)


def load_generator(file, device="cpu", **config) -> Generator:
    """A frozen ``Generator`` in eval mode from a ``torch.save`` checkpoint holding
    ``netG_state_dict`` (the DCGAN tutorial's format, used by ``gan-face-generate`` and by
    :func:`save_generator`). The hyper-parameters come from the checkpoint's ``config`` when it has
    one, else from ``config`` (``nz``, ``ngf``, ``nc``, ``size``); read with ``weights_only=True``."""
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise ValueError(f"{file} is not a readable torch checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); it may be truncated or not a generator's "
                         f"weights") from None
    if not isinstance(checkpoint, dict) or "netG_state_dict" not in checkpoint:
        raise ValueError(f"{file} does not hold 'netG_state_dict' (found "
                         f"{list(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__})")
    hparams = dict(config, **checkpoint.get("config", {}))
    missing = {"nz", "ngf", "nc", "size"} - set(hparams)
    if missing:
        raise ValueError(f"{file} has no 'config'; pass {', '.join(sorted(missing))} to load_generator")
    G = Generator(nz=hparams["nz"], ngf=hparams["ngf"], nc=hparams["nc"], size=hparams["size"])
    G.load_state_dict(checkpoint["netG_state_dict"], strict=True)
    G.requires_grad_(False)
    from ..train.seed import resolve_device
    return G.to(resolve_device(device)).eval()


def load_face_generator(device="cpu") -> Generator:
    """The pretrained 64x64 face DCGAN of ``gan-face-generate`` 1.1.1 (trained on DigiFace-1M) as our
    ``Generator(nz=100, ngf=64, nc=3, size=64)``, in eval mode with frozen parameters.

    ``weights.tar`` is a ``torch.save`` archive (a zip, despite the name) holding
    ``{"netG_state_dict": ...}`` with the tutorial's keys ``main.{0,1,3,4,6,7,9,10,12}.*``, which are
    exactly ours; it is read by :func:`load_generator` from the installed package (as its
    ``inference.py`` does), never downloaded. ``G(z)`` with ``z ~ N(0, I_100)`` gives faces in [-1, 1].
    """
    path = face_weights_path()
    with importlib.resources.as_file(path) as file:
        return load_generator(file, device, nz=FACE_NZ, ngf=FACE_NGF, nc=FACE_NC, size=64)
