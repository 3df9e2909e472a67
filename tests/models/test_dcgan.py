"""DCGAN generator/discriminator (tutorial layout) and the pretrained face generator adapter."""
import importlib

import pytest
import torch

from reprobook.models import dcgan
from reprobook.models.dcgan import Discriminator, Generator, load_face_generator, weights_init


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_range(size):
    G, D = Generator(nz=16, ngf=8, nc=3, size=size), Discriminator(ndf=8, nc=3, size=size)
    z = torch.randn(2, 16)
    x = G(z)
    assert x.shape == (2, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(G(z[:, :, None, None]), x)
    assert D(x).shape == (2,)
    n_up = sum(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())
    assert n_up == (5 if size == 64 else 4)                           # 32x32: one up-sampling fewer


def test_weights_init_is_dcgan():
    torch.manual_seed(0)
    G = Generator(nz=100, ngf=32, size=64)
    conv, bn = G.main[0], G.main[1]
    assert abs(conv.weight.mean().item()) < 2e-3 and conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01) and torch.all(bn.bias == 0)
    lin = torch.nn.Conv2d(3, 64, 3)
    weights_init(lin)
    assert lin.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_parameter_names_match_the_tutorial():
    from gan_face_generate.models import Discriminator as TutD, Generator as TutG

    assert Generator(nz=100, ngf=64, nc=3).state_dict().keys() == TutG(1, 3, 100, 64).state_dict().keys()
    ours, theirs = Discriminator(ndf=8).state_dict(), TutD(1, 3, 8).state_dict()
    assert ours.keys() == theirs.keys()
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        Generator(size=128)
    with pytest.raises(ValueError, match="nz"):
        Generator(nz=0)
    with pytest.raises(ValueError, match="z must have shape"):
        Generator(nz=16, ngf=4, size=32)(torch.randn(2, 15))
    with pytest.raises(ValueError, match="x must have shape"):
        Discriminator(ndf=4, size=32)(torch.randn(2, 3, 64, 64))


def test_face_generator_equals_the_packages_own():
    from gan_face_generate.models import Generator as TutG

    G = load_face_generator()
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    z = torch.randn(3, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = G(z)
        assert x.shape == (3, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
        assert x.std() > 0.1                                          # trained, not an untrained net
        assert torch.equal(G(z), x)                                   # deterministic
        ref = TutG(1, 3, 100, 64)
        checkpoint = torch.load(dcgan.face_weights_path(), map_location="cpu", weights_only=True)
        ref.load_state_dict(checkpoint["netG_state_dict"])
        assert torch.equal(ref.eval()(z[:, :, None, None]), x)


def test_face_generator_names_the_package_when_missing(monkeypatch):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "gan_face_generate":
            raise ModuleNotFoundError("No module named 'gan_face_generate'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(dcgan.importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install gan-face-generate==1\.1\.1"):
        load_face_generator()


def test_our_generator_saves_and_loads_through_the_face_adapter(tmp_path):
    from reprobook.models.dcgan import load_generator, save_generator
    torch.manual_seed(0)
    G = Generator(nz=16, ngf=8, size=32).eval()
    save_generator(G, tmp_path / "g.pt")
    H = load_generator(tmp_path / "g.pt")
    z = torch.randn(3, 16)
    assert torch.equal(G(z), H(z)) and not H.training and not any(p.requires_grad for p in H.parameters())
    torch.save({"netG_state_dict": G.state_dict()}, tmp_path / "bare.pt")       # the tutorial's format
    with pytest.raises(ValueError, match="pass nc, ngf, nz, size"):
        load_generator(tmp_path / "bare.pt")
    assert torch.equal(load_generator(tmp_path / "bare.pt", nz=16, ngf=8, nc=3, size=32)(z), G(z))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="netG_state_dict"):
        load_generator(tmp_path / "other.pt")
