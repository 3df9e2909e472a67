"""CIFAR-10-C-style common corruptions, generated here (the released CIFAR-10-C cannot be
downloaded on an offline machine).

Each corruption follows ``make_cifar_c.py`` of hendrycks/robustness (Hendrycks & Dietterich,
ICLR 2019) with its five CIFAR severities, re-implemented on batched arrays: the 15 corruptions
of the benchmark (:data:`BENCHMARK_CORRUPTIONS`) and its 4 extra, held-out ones
(:data:`EXTRA_CORRUPTIONS`). All randomness comes from the ``torch.Generator`` passed to
:func:`corrupt` (so a corrupted test set is reproducible): the noises draw from it directly, the
NumPy/SciPy corruptions from a NumPy generator seeded by one draw from it (:func:`numpy_rng`).
Brightness and saturation work in HSV as the original, JPEG and pixelate use Pillow exactly as
the original does, the blurs are convolutions. What the original did with OpenCV, ImageMagick
(through Wand) or scikit-image is re-implemented with NumPy/SciPy, bit for bit where the
arithmetic allows it (tests/data/test_corruptions.py, and fixtures made with the real libraries;
checked once against make_cifar_c.py's own functions, fed the same random draws, on 506 test
images x 5 severities: every uint8 value equal):

* ``motion_blur`` and ``snow`` use ImageMagick's ``MotionBlurImage`` (a one-sided Gaussian line
  kernel, :func:`magick_motion_blur`), rounded to 8 bits as ImageMagick Q16 writes a PNG;
* ``elastic_transform`` uses OpenCV's ``warpAffine`` as OpenCV 3.4 (the generation of the 2018
  CIFAR-10-C) computes it: fixed-point coordinates on a 1/32 pixel grid, reflect-101 border
  (:func:`_cv2_warp_affine`; OpenCV 5.0 interpolates differently, up to 5 levels apart);
* ``spatter`` (severities 1-3) uses OpenCV's ``Canny``, ``distanceTransform`` (5x5 chamfer, in
  float32 as opencv-python's IPP path), ``blur``, ``equalizeHist`` and ``filter2D``, and ``snow``
  its float32 ``cvtColor`` to grey (with OpenCV's fused multiply-adds);
* ``frost`` blends crops of the six frost photographs that ship in the ``imagecorruptions`` wheel
  (Apache-2.0; the bethgelab repackaging of the frost pictures make_cifar_c.py reads, not
  compared here with hendrycks/robustness's copies), read with :mod:`importlib.resources`.

Like the original, results are truncated to uint8, and the original's quirks are kept because
they are what CIFAR-10-C contains (the glass-blur "swap" that copies, the squared
wibble of the plasma fractal, the ``np.arange`` zoom factors that include their end points).

    x_c = corrupt(x_uint8, "gaussian_noise", severity=3, generator=g)     # (N, 3, 32, 32) uint8
"""
from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

try:                                   # needed by the NumPy corruptions only (requirements.txt pins it)
    from scipy import ndimage
except ImportError:                    # pragma: no cover
    ndimage = None

from .augment import _hsv_to_rgb, _rgb_to_hsv

Tensor = torch.Tensor

#: the five CIFAR severities of each corruption (make_cifar_c.py), the benchmark's 15 first
SEVERITIES = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    # (sigma, max_delta, iterations)
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    # ImageMagick (radius, sigma); the angle is uniform in [-45, 45) degrees
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    # the zoom factors, np.arange(1, stop, 0.01) as the original (which includes stop)
    "zoom_blur": [tuple(float(z) for z in np.arange(1, stop, 0.01)) for stop in (1.06, 1.11, 1.16, 1.21, 1.26)],
    # (loc, scale, zoom, threshold, blur radius, blur sigma, blend)
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    # (image weight, frost weight)
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    # (fog weight, wibble decay of the plasma fractal)
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    # (displacement scale, displacement smoothing sigma, affine jitter), in pixels: IMSIZE * (...) with IMSIZE = 32
    "elastic_transform": [(32 * 0, 32 * 0, 32 * 0.08), (32 * 0.05, 32 * 0.2, 32 * 0.07), (32 * 0.08, 32 * 0.06, 32 * 0.06),
                          (32 * 0.1, 32 * 0.04, 32 * 0.05), (32 * 0.1, 32 * 0.03, 32 * 0.03)],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "jpeg_compression": [80, 65, 58, 50, 40],
    # the four extra corruptions (held out in the benchmark)
    "speckle_noise": [0.06, 0.1, 0.12, 0.16, 0.2],
    "gaussian_blur": [0.4, 0.6, 0.7, 0.8, 1.0],
    # (loc, scale, sigma, threshold, intensity / mud sigma, mud?)
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
}
CORRUPTIONS = tuple(SEVERITIES)
#: the 15 corruptions of the CIFAR-10-C / ImageNet-C benchmark (averaged in the mCE)
BENCHMARK_CORRUPTIONS = CORRUPTIONS[:15]
#: the 4 extra corruptions the benchmark holds out for validation (reported separately)
EXTRA_CORRUPTIONS = CORRUPTIONS[15:]


def numpy_rng(g: torch.Generator | None) -> np.random.Generator:
    """A NumPy generator seeded by one 63-bit draw from ``g`` (the global torch RNG when ``g`` is
    None): the NumPy corruptions are as reproducible as the torch ones, and never touch NumPy's
    global RNG."""
    device = g.device if g is not None else "cpu"
    seed = torch.randint(0, 2 ** 63 - 1, (), generator=g, device=device).item()
    return np.random.default_rng(seed)


def _rand(g, shape, device, kind="uniform", **kw):
    gen_device = g.device if g is not None else "cpu"
    if kind == "normal":
        out = torch.randn(shape, generator=g, device=gen_device, dtype=torch.float64)
    else:
        out = torch.rand(shape, generator=g, device=gen_device, dtype=torch.float64)
    return out.to(device)


def gaussian_noise(x: Tensor, c: float, g=None) -> Tensor:
    return x + c * _rand(g, x.shape, x.device, "normal").to(x.dtype)


def shot_noise(x: Tensor, c: float, g=None) -> Tensor:
    rate = (x.double() * c).to("cpu" if g is None else g.device)
    return (torch.poisson(rate, generator=g) / c).to(x.device, x.dtype)


def impulse_noise(x: Tensor, c: float, g=None) -> Tensor:
    """Salt and pepper on a fraction ``c`` of the values (each channel independently, as
    ``skimage.util.random_noise(mode='s&p', amount=c)``), half salt, half pepper."""
    flipped = _rand(g, x.shape, x.device) < c
    salted = _rand(g, x.shape, x.device) < 0.5
    return torch.where(flipped, salted.to(x.dtype), x)


def _gaussian_kernel1d(sigma: float, radius: int, dtype, device) -> Tensor:
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def gaussian_blur(x: Tensor, sigma: float, g=None) -> Tensor:
    """``skimage.filters.gaussian(sigma)``: separable kernel truncated at 4 sigma, edges replicated."""
    radius = int(4 * sigma + 0.5)
    k = _gaussian_kernel1d(sigma, radius, x.dtype, x.device)
    C = x.shape[1]
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)


def disk_kernel(radius: float, alias_blur: float, dtype=torch.float64) -> Tensor:
    """The anti-aliased disk of make_cifar_c.py: a 17x17 indicator of the disk of ``radius``,
    normalised, then smoothed by a 3x3 Gaussian of ``alias_blur`` (reflect-101 edges, as OpenCV)."""
    L = torch.arange(-8, 9, dtype=dtype)
    X, Y = torch.meshgrid(L, L, indexing="xy")
    disk = ((X ** 2 + Y ** 2) <= radius ** 2).to(dtype)
    disk = disk / disk.sum()
    k = _gaussian_kernel1d(alias_blur, 1, dtype, "cpu")
    d = F.pad(disk[None, None], (1, 1, 1, 1), mode="reflect")
    d = F.conv2d(d, k.view(1, 1, 1, 3))
    return F.conv2d(d, k.view(1, 1, 3, 1))[0, 0]


def defocus_blur(x: Tensor, c, g=None) -> Tensor:
    radius, alias = c
    k = disk_kernel(radius, alias, x.dtype).to(x.device)
    C, r = x.shape[1], k.shape[0] // 2
    xp = F.pad(x, (r, r, r, r), mode="reflect")                     # OpenCV's BORDER_REFLECT_101
    return F.conv2d(xp, k[None, None].expand(C, 1, -1, -1), groups=C)   # correlation, as filter2D


def contrast(x: Tensor, c: float, g=None) -> Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)                           # per image and channel
    return (x - mean) * c + mean


def brightness(x: Tensor, c: float, g=None) -> Tensor:
    hsv = _rgb_to_hsv(x.clamp(0, 1))
    hsv = torch.stack((hsv[:, 0], hsv[:, 1], (hsv[:, 2] + c).clamp(0, 1)), dim=1)
    return _hsv_to_rgb(hsv)


def saturate(x: Tensor, c, g=None) -> Tensor:
    hsv = _rgb_to_hsv(x.clamp(0, 1))
    hsv = torch.stack((hsv[:, 0], (hsv[:, 1] * c[0] + c[1]).clamp(0, 1), hsv[:, 2]), dim=1)
    return _hsv_to_rgb(hsv)


def _per_image_pil(x_uint8: Tensor, fn) -> Tensor:
    arr = x_uint8.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([np.asarray(fn(Image.fromarray(a)).convert("RGB"), np.uint8) for a in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x_uint8.device)


def pixelate(x_uint8: Tensor, c: float) -> Tensor:
    H, W = x_uint8.shape[-2:]
    return _per_image_pil(x_uint8, lambda im: im.resize((int(W * c), int(H * c)), Image.BOX)
                          .resize((W, H), Image.BOX))


def jpeg_compression(x_uint8: Tensor, quality: int) -> Tensor:
    def fn(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf)
    return _per_image_pil(x_uint8, fn)


def speckle_noise(x: Tensor, c: float, g=None) -> Tensor:
    """Multiplicative Gaussian noise ``x + x * N(0, c^2)``."""
    return x + x * (c * _rand(g, x.shape, x.device, "normal")).to(x.dtype)


# ------------------------------------------------------------------ NumPy/SciPy corruptions
# Each takes uint8 images (N, H, W, 3), its severity parameter and a NumPy generator, and returns
# uint8 images (N, H, W, 3). The random draws are documented per function (batched, in the order
# listed), so that a test can make the same draws from ``numpy_rng(generator)``.

def _gaussian(a: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """``skimage.filters.gaussian(a, sigma, multichannel=True)`` of each image of a batch
    ``(N, H, W[, C])``: SciPy's Gaussian filter over H and W only (mode 'nearest', 4 sigma)."""
    sig = (0, sigma, sigma) + (0,) * (a.ndim - 3)
    return ndimage.gaussian_filter(a, sig, mode=mode, truncate=truncate)


def _to_uint8(y: np.ndarray) -> np.ndarray:
    return np.uint8(np.clip(y, 0, 1) * 255)                          # truncates, as np.uint8()


def glass_blur(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """Blur, locally shuffle, blur. Draws ``integers(-d, d, (N, iterations, H-2d, W-2d, 2))``: the
    (dx, dy) of each pixel (h, w) for h = H-d .. d+1 and w = W-d .. d+1, descending, as the loop.

    The original's "swap" is a NumPy tuple assignment of two views, so it only copies
    ``x[h, w] = x[h + dy, w + dx]``. With d = 1 (every CIFAR severity) dx, dy are in {-1, 0} and
    the descending loop never reads a pixel it already wrote, so each iteration is one gather."""
    sigma, d, iterations = c
    if d != 1:
        raise NotImplementedError("glass_blur is vectorised for max_delta = 1 (all CIFAR severities)")
    N, H, W, _ = x.shape
    y = np.uint8(_gaussian(x / 255.0, sigma) * 255)
    hs, ws = np.arange(H - d, d, -1), np.arange(W - d, d, -1)
    shifts = rng.integers(-d, d, size=(N, iterations, len(hs), len(ws), 2))
    n, rows, cols = np.arange(N)[:, None, None], hs[None, :, None], ws[None, None, :]
    for it in range(iterations):
        dx, dy = shifts[:, it, ..., 0], shifts[:, it, ..., 1]
        y[n, rows, cols] = y[n, rows + dy, cols + dx]
    return _to_uint8(_gaussian(y / 255.0, sigma))


def _clipped_zoom(a: np.ndarray, z: float) -> np.ndarray:
    """Zoom images ``(N, H, W, C)`` by ``z`` about the centre (SciPy, order 1) and crop back. The
    channels join the batch axis: a unit zoom along it interpolates nothing, so each image gets
    SciPy's values for it alone (and one axis fewer is twice as fast)."""
    N, H, W, C = a.shape
    ch, cw = int(np.ceil(H / z)), int(np.ceil(W / z))
    top, left = (H - ch) // 2, (W - cw) // 2
    crop = np.moveaxis(a[:, top:top + ch, left:left + cw], 3, 1).reshape(N * C, ch, cw)
    out = ndimage.zoom(crop, (1, z, z), order=1)
    t, l = (out.shape[1] - H) // 2, (out.shape[2] - W) // 2
    return np.moveaxis(out[:, t:t + H, l:l + W].reshape(N, C, H, W), 1, 3)


def zoom_blur(x: np.ndarray, c, rng=None) -> np.ndarray:
    """Mean of the image and its zooms by each factor of ``c`` (float32 as the original)."""
    a = (x / 255.0).astype(np.float32)
    out = np.zeros_like(a)
    for z in c:
        out += _clipped_zoom(a, z)
    return _to_uint8((a + out) / (len(c) + 1))


def plasma_fractal(n: int, mapsize: int, wibbledecay: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` diamond-square height maps ``(n, mapsize, mapsize)`` in [0, 1], as the original
    (including its wibble, ``wibble * U(-wibble, wibble)``). Draws, per step (stepsize = mapsize,
    mapsize / 2, ..., 2): ``uniform(-wibble, wibble, (n, k, k))`` three times (squares, then the
    two diamond grids), with k = mapsize / stepsize."""
    if mapsize & (mapsize - 1):
        raise ValueError("mapsize must be a power of two")
    a = np.empty((n, mapsize, mapsize))
    a[:, 0, 0] = 0
    step, wibble = mapsize, 100.0

    def wibbled(s):
        return s / 4 + wibble * rng.uniform(-wibble, wibble, s.shape)

    while step >= 2:
        h = step // 2
        corners = a[:, 0::step, 0::step]
        sq = corners + np.roll(corners, -1, axis=1)
        sq += np.roll(sq, -1, axis=2)
        a[:, h::step, h::step] = wibbled(sq)
        dr, ul = a[:, h::step, h::step], a[:, 0::step, 0::step]
        a[:, 0::step, h::step] = wibbled((dr + np.roll(dr, 1, axis=1)) + (ul + np.roll(ul, -1, axis=2)))
        a[:, h::step, 0::step] = wibbled((dr + np.roll(dr, 1, axis=2)) + (ul + np.roll(ul, -1, axis=1)))
        step //= 2
        wibble /= wibbledecay
    a -= a.min(axis=(1, 2), keepdims=True)
    return a / a.max(axis=(1, 2), keepdims=True)


def fog(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """Add a plasma fractal (mapsize 32 for CIFAR), rescaled to keep each image's maximum.
    Draws: those of :func:`plasma_fractal` for the batch."""
    N, H, W, _ = x.shape
    mapsize = max(32, 1 << (max(H, W) - 1).bit_length())
    a = x / 255.0
    max_val = a.max(axis=(1, 2, 3), keepdims=True)
    a = a + c[0] * plasma_fractal(N, mapsize, c[1], rng)[:, :H, :W, None]
    return _to_uint8(a * max_val / (max_val + c[0]))


# ---- frost
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def missing_frost_files(folder: Path) -> list[str]:
    """The frost pictures absent from ``folder``."""
    return [f for f in FROST_FILES if not (Path(folder) / f).is_file()]


def _frost_dir():
    """The frost pictures: a ``frost/`` folder in a data root (what a GPU run stages), else the
    package data of the imagecorruptions wheel."""
    from .cifar import data_roots

    for root in data_roots():
        if not missing_frost_files(root / "frost"):
            return root / "frost"
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None:
        raise ModuleNotFoundError("frost needs the frost pictures of the imagecorruptions wheel: "
                                  "pip install --no-deps imagecorruptions==1.1.2 (the Makefile does), "
                                  "or a frost/ folder with them in $REPROBOOK_DATA")
    # The package's __init__ imports OpenCV and scikit-image (not installed here): read its data
    # through a module object made from its spec, which importlib.resources needs but never executes.
    return importlib.resources.files(importlib.util.module_from_spec(spec)) / "frost"


def _cv2_downscale_linear(img: np.ndarray, f: float) -> np.ndarray:
    """``cv2.resize(img, (0, 0), fx=f, fy=f)`` (INTER_LINEAR) for f = 1 / integer: OpenCV samples
    the source at ``(i + 0.5) / f - 0.5``, an integer for f = 0.2, so every weight is 0 or 1."""
    out = []
    for axis in (0, 1):
        n = img.shape[axis]
        m = int(np.rint(n * f))                                     # saturate_cast<int>: round half even
        src = (np.arange(m) + 0.5) * (1.0 / f) - 0.5
        if not np.all(src == np.floor(src)):
            raise ValueError(f"scale {f} does not sample whole pixels")
        out.append(np.clip(src.astype(np.int64), 0, n - 1))
    return img[out[0][:, None], out[1][None, :]]


@functools.lru_cache(maxsize=None)
def frost_pictures(scale: float = 0.2) -> tuple[np.ndarray, ...]:
    """The six frost pictures as RGB uint8 arrays, resized by ``scale`` as make_cifar_c.py does
    (alpha dropped, as ``cv2.imread`` does; the original reads them as BGR and flips to RGB)."""
    d = _frost_dir()
    out = []
    for name in FROST_FILES:
        with (d / name).open("rb") as f:
            img = np.asarray(Image.open(f).convert("RGB"))
        out.append(_cv2_downscale_linear(img, scale))
    return tuple(out)


def frost(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """``clip(c0 x + c1 frost)`` in 0..255 with a random crop of one of the first five frost
    pictures (the original's ``randint(5)`` never picks the sixth). Draws ``integers(5, N)`` (the
    picture), then the crop's top rows ``integers(0, h - H)`` and left columns ``integers(0, w - W)``."""
    N, H, W, _ = x.shape
    pics = frost_pictures()
    idx = rng.integers(5, size=N)
    hs = np.array([p.shape[0] for p in pics])[idx]
    ws = np.array([p.shape[1] for p in pics])[idx]
    tops, lefts = rng.integers(0, hs - H), rng.integers(0, ws - W)
    crops = np.stack([pics[k][t:t + H, l:l + W] for k, t, l in zip(idx, tops, lefts)])
    return np.uint8(np.clip(c[0] * x.astype(np.float64) + c[1] * crops, 0, 255))


# ---- ImageMagick's motion blur (motion_blur, snow)
_MAGICK_SQ2PI = 2.50662827463100024161235523934010416269302368164062


def magick_motion_blur_kernel(radius: float, sigma: float) -> np.ndarray:
    """GetOptimalKernelWidth1D and GetMotionBlurKernel of ImageMagick's effect.c: ``2 ceil(radius)
    + 1`` taps of a one-sided Gaussian ``exp(-i^2 / (2 sigma^2))``, i = 0, 1, ..., normalised."""
    if radius <= 0:
        raise ValueError("radius must be positive (ImageMagick's automatic width is not implemented)")
    width = int(2.0 * math.ceil(radius) + 1)
    sigma = sigma if abs(sigma) >= 1e-12 else 1e-12
    k = [math.exp(-float(i * i) / (2.0 * sigma * sigma)) / (_MAGICK_SQ2PI * sigma) for i in range(width)]
    total = 0.0
    for v in k:
        total += v
    return np.array([v / total for v in k])


def magick_motion_offsets(width: int, angle: float) -> np.ndarray:
    """The ``(dx, dy)`` pixel offsets of the ``width`` taps along ``angle`` degrees (effect.c)."""
    rad = math.pi * angle / 180.0
    px, py = width * math.sin(rad), width * math.cos(rad)
    h = float(np.hypot(px, py))                                      # the C library's hypot
    return np.array([(math.ceil(i * py / h - 0.5), math.ceil(i * px / h - 0.5)) for i in range(width)],
                    dtype=np.int64)


def magick_motion_blur(x: np.ndarray, radius: float, sigma: float, angles) -> np.ndarray:
    """ImageMagick's ``MotionBlurImage(radius, sigma, angle)`` of 8-bit images ``(N, H, W, C)``,
    one angle per image, as Wand applies it to a PNG and writes the PNG back (Q16 without HDRI):

        q(x, y) = sum_i k_i Q(x + dx_i, y + dy_i),  Q = 257 v,  edge pixels replicated,
        v' = floor(ClampToQuantum(q) / 257),  ClampToQuantum(q) = floor(q + 0.5) in [0, 65535].
    """
    x = np.asarray(x)
    N, H, W, _ = x.shape
    k = magick_motion_blur_kernel(radius, sigma)
    offs = np.stack([magick_motion_offsets(len(k), float(a)) for a in np.broadcast_to(angles, (N,))])
    q = x.astype(np.float64) * 257.0                                # ScaleCharToQuantum
    n, hh, ww = np.arange(N)[:, None, None], np.arange(H)[None, :], np.arange(W)[None, :]
    acc = np.zeros(q.shape)
    for i in range(len(k)):
        rows = np.clip(hh + offs[:, i, 1, None], 0, H - 1)
        cols = np.clip(ww + offs[:, i, 0, None], 0, W - 1)
        acc += k[i] * q[n, rows[:, :, None], cols[:, None, :]]
    quantum = np.floor(np.clip(acc, 0, 65535) + 0.5).astype(np.int64)   # ClampToQuantum
    # The 8-bit PNG that ImageMagick 6.9.11 (Q16) writes holds floor(quantum / 257): all 90 cases of
    # tests/data/fixtures/motion_blur_wand.npz agree exactly; rounding instead would put ~40 % of
    # the pixels one level higher.
    return (quantum // 257).astype(np.uint8)


def motion_blur(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's motion blur with (radius, sigma) = ``c``. Draws ``uniform(-45, 45, N)`` (angles)."""
    angles = rng.uniform(-45, 45, size=len(x))
    return magick_motion_blur(x, c[0], c[1], angles)


def _fma32(p, q, r):
    """float32 fused multiply-add ``p q + r`` (the product of two float32 is exact in float64)."""
    return (p.astype(np.float64) * np.float64(q) + r).astype(np.float32)


def _rgb2gray_f32(a: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)`` for float32 RGB: 0.299 R + 0.587 G + 0.114 B with
    OpenCV's (SIMD) evaluation order ``fma(B, .114, fma(R, .299, G .587))``, which OpenCV 3.4.18 and
    5.0 both follow bit for bit (plain float32 arithmetic differs by one ulp in ~19 % of pixels)."""
    g = a[..., 1] * np.float32(0.587)
    return _fma32(a[..., 2], np.float32(0.114), _fma32(a[..., 0], np.float32(0.299), g))


def snow(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """A thresholded, zoomed and motion-blurred noise layer added twice (once rotated by 180
    degrees) to a brightened image. Draws ``normal(c0, c1, (N, H, W))`` (the layer), then
    ``uniform(-135, -45, N)`` (the blur angles)."""
    N, H, W, _ = x.shape
    a = x.astype(np.float32) / 255.0
    layer = rng.normal(c[0], c[1], size=(N, H, W))
    angles = rng.uniform(-135, -45, size=N)
    layer = _clipped_zoom(layer[..., None], c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    layer = magick_motion_blur(layer, c[4], c[5], angles) / 255.0
    a = c[6] * a + (1 - c[6]) * np.maximum(a, _rgb2gray_f32(a)[..., None] * 1.5 + 0.5)
    return _to_uint8(a + layer + np.rot90(layer, k=2, axes=(1, 2)))


# ---- OpenCV's warpAffine (elastic_transform)
def _cv2_affine_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``cv2.getAffineTransform`` for a batch: the (N, 2, 3) maps taking 3 points onto 3 points."""
    P = np.concatenate([src.astype(np.float64), np.ones(src.shape[:-1] + (1,))], axis=-1)   # (N, 3, 3)
    return np.swapaxes(np.linalg.solve(P, dst.astype(np.float64)), -1, -2)


def _cv2_warp_affine(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``cv2.warpAffine(img, M, (W, H))`` (INTER_LINEAR, BORDER_REFLECT_101) of float32 images
    ``(N, H, W, C)``, as OpenCV computes it: the inverse map in fixed point (10 fractional bits,
    rounded to 1/32 pixel), then bilinear weights from its 32 x 32 float table."""
    N, H, W, C = img.shape
    D = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]           # cv::invertAffineTransform
    D = np.where(D != 0, 1.0 / np.where(D != 0, D, 1), 0.0)
    A11, A22, A12, A21 = M[:, 1, 1] * D, M[:, 0, 0] * D, -M[:, 0, 1] * D, -M[:, 1, 0] * D
    b1 = -A11 * M[:, 0, 2] - A12 * M[:, 1, 2]
    b2 = -A21 * M[:, 0, 2] - A22 * M[:, 1, 2]
    xs, ys = np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)
    adelta = np.rint(A11[:, None] * xs * 1024).astype(np.int64)     # saturate_cast<int>: round half even
    bdelta = np.rint(A21[:, None] * xs * 1024).astype(np.int64)
    X0 = np.rint((A12[:, None] * ys + b1[:, None]) * 1024).astype(np.int64) + 16
    Y0 = np.rint((A22[:, None] * ys + b2[:, None]) * 1024).astype(np.int64) + 16
    X = (X0[:, :, None] + adelta[:, None, :]) >> 5                  # (N, H, W) in 1/32 pixel
    Y = (Y0[:, :, None] + bdelta[:, None, :]) >> 5
    ix, iy = X >> 5, Y >> 5
    tx = (X & 31).astype(np.float32) * np.float32(1 / 32)
    ty = (Y & 31).astype(np.float32) * np.float32(1 / 32)

    def reflect101(i, n):                                           # cv::borderInterpolate, n >= 2
        i = np.mod(i, 2 * n - 2)
        return np.where(i > n - 1, 2 * n - 2 - i, i)

    x0, x1 = reflect101(ix, W), reflect101(ix + 1, W)
    y0, y1 = reflect101(iy, H), reflect101(iy + 1, H)
    one = np.float32(1)
    w = [((one - ty) * (one - tx)), ((one - ty) * tx), (ty * (one - tx)), (ty * tx)]
    n = np.arange(N)[:, None, None]
    out = (img[n, y0, x0] * w[0][..., None] + img[n, y0, x1] * w[1][..., None]) + img[n, y1, x0] * w[2][..., None]
    return out + img[n, y1, x1] * w[3][..., None]


def elastic_transform(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """A random affine warp, then a smooth random displacement field. Draws
    ``uniform(-c2, c2, (N, 3, 2))`` (jitter of the affine's three points, cast to float32), then
    ``uniform(-1, 1, (N, H, W))`` twice (the column, then the row displacement before smoothing)."""
    N, H, W, C = x.shape
    img = x.astype(np.float32) / 255.0
    center = np.float32((H, W)) // 2
    square = min(H, W) // 3
    pts1 = np.float32([center + square, [center[0] + square, center[1] - square], center - square])
    pts2 = pts1 + rng.uniform(-c[2], c[2], size=(N, 3, 2)).astype(np.float32)
    ux = rng.uniform(-1, 1, size=(N, H, W))
    uy = rng.uniform(-1, 1, size=(N, H, W))
    img = _cv2_warp_affine(img, _cv2_affine_transform(np.broadcast_to(pts1, pts2.shape), pts2))
    dx = (_gaussian(ux, c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)[..., None]
    dy = (_gaussian(uy, c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)[..., None]
    n, y, xx, z = np.meshgrid(np.arange(N), np.arange(H), np.arange(W), np.arange(C), indexing="ij")
    coords = np.stack([n.ravel(), (y + dy).ravel(), (xx + dx).ravel(), z.ravel()]).astype(np.float64)
    out = ndimage.map_coordinates(img, coords, order=1, mode="reflect").reshape(img.shape)
    return _to_uint8(out)


# ---- OpenCV's Canny, distanceTransform, blur, equalizeHist, filter2D (spatter)
def _correlate3(a: np.ndarray, k, mode: str) -> np.ndarray:
    """3x3 correlation of each image ``(N, H, W)``, borders padded with ``np.pad`` ``mode``."""
    H, W = a.shape[1:]
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode=mode)
    out = None
    for i in range(3):
        for j in range(3):
            if k[i][j]:
                t = k[i][j] * p[:, i:i + H, j:j + W]
                out = t if out is None else out + t
    return out


def _cv2_canny(img: np.ndarray, low: int, high: int) -> np.ndarray:
    """``cv2.Canny(img, low, high) > 0`` (aperture 3, L1 gradient) of uint8 images ``(N, H, W)``:
    Sobel (replicated border), non-maximum suppression in the four directions (tan 22.5 degrees in
    OpenCV's fixed point), then hysteresis: the 8-connected candidates (> low) joined to a pixel
    above ``high``."""
    a = img.astype(np.int64)
    dx = _correlate3(a, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "edge")
    dy = _correlate3(a, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "edge")
    mag = np.abs(dx) + np.abs(dy)
    m = np.pad(mag, ((0, 0), (1, 1), (1, 1)))                        # zero outside the image
    H, W = mag.shape[1:]

    def nb(di, dj):
        return m[:, 1 + di:1 + di + H, 1 + dj:1 + dj + W]

    ax, ay = np.abs(dx), np.abs(dy) << 15
    tg22x = ax * 13573                                              # round(tan(22.5 deg) * 2^15)
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg22x + (ax << 16))
    s_pos = (dx ^ dy) >= 0
    peak = np.where(horizontal, (mag > nb(0, -1)) & (mag >= nb(0, 1)),
                    np.where(vertical, (mag > nb(-1, 0)) & (mag >= nb(1, 0)),
                             np.where(s_pos, (mag > nb(-1, -1)) & (mag > nb(1, 1)),
                                      (mag > nb(-1, 1)) & (mag > nb(1, -1)))))
    cand = peak & (mag > low)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True                                             # 8-connected within an image
    labels, count = ndimage.label(cand, structure)
    keep = np.zeros(count + 1, bool)
    keep[labels[cand & (mag > high)]] = True
    keep[0] = False
    return keep[labels]


def _cv2_distance_transform5(zero: np.ndarray) -> np.ndarray:
    """``cv2.distanceTransform(src, cv2.DIST_L2, 5)`` where ``zero`` marks the zero pixels of src,
    as opencv-python computes it (through Intel IPP, in OpenCV 3.4.18 and 5.0 alike): the two-pass
    5x5 chamfer distance with weights 1, 1.4f and 2.1969f in float32, pixels outside the image
    infinitely far. (OpenCV built without IPP sums the weights in 16.16 fixed point instead: up
    to 5e-5 apart, enough to move a truncation now and then.)"""
    a, b, c = np.float32(1), np.float32(1.4), np.float32(2.1969)
    N, H, W = zero.shape
    t = np.full((N, H + 4, W + 4), np.float32(1e20), np.float32)    # a 2-pixel frame, "infinity"
    for i in range(H):                                              # forward pass: the upper half-mask
        r = i + 2
        up = np.minimum.reduce([t[:, r - 2, 1:W + 1] + c, t[:, r - 2, 3:W + 3] + c, t[:, r - 1, 0:W] + c,
                                t[:, r - 1, 1:W + 1] + b, t[:, r - 1, 2:W + 2] + a, t[:, r - 1, 3:W + 3] + b,
                                t[:, r - 1, 4:W + 4] + c])
        for j in range(W):                                          # then the left neighbour, in order
            t[:, r, j + 2] = np.where(zero[:, i, j], np.float32(0), np.minimum(up[:, j], t[:, r, j + 1] + a))
    for i in range(H - 1, -1, -1):                                  # backward pass: the lower half-mask
        r = i + 2
        down = np.minimum.reduce([t[:, r, 2:W + 2], t[:, r + 2, 3:W + 3] + c, t[:, r + 2, 1:W + 1] + c,
                                  t[:, r + 1, 4:W + 4] + c, t[:, r + 1, 3:W + 3] + b, t[:, r + 1, 2:W + 2] + a,
                                  t[:, r + 1, 1:W + 1] + b, t[:, r + 1, 0:W] + c])
        for j in range(W - 1, -1, -1):
            t[:, r, j + 2] = np.minimum(down[:, j], t[:, r, j + 3] + a)
    return t[:, 2:H + 2, 2:W + 2].copy()


def _cv2_box3_f32(a: np.ndarray) -> np.ndarray:
    """``cv2.blur(a, (3, 3))`` of float32 images: sums in double, times 1/9, float32 (reflect-101)."""
    return (_correlate3(a.astype(np.float64), [[1] * 3] * 3, "reflect") * (1.0 / 9)).astype(np.float32)


def _cv2_box3_u8(a: np.ndarray) -> np.ndarray:
    """``cv2.blur(a, (3, 3))`` of uint8 images: the rounded mean (a ninth is never a tie)."""
    s = _correlate3(a.astype(np.int64), [[1] * 3] * 3, "reflect")
    return ((2 * s + 9) // 18).astype(np.uint8)


def _cv2_equalize_hist(a: np.ndarray) -> np.ndarray:
    """``cv2.equalizeHist`` of each uint8 image ``(N, H, W)`` (float32 scale, round half even)."""
    out = np.empty_like(a)
    total = a.shape[1] * a.shape[2]
    for k in range(len(a)):
        hist = np.bincount(a[k].ravel(), minlength=256)
        i = int(np.flatnonzero(hist)[0])
        if hist[i] == total:
            out[k] = i
            continue
        scale = np.float32(255.0) / np.float32(total - hist[i])
        lut = np.zeros(256, np.uint8)
        cum = np.cumsum(hist[i + 1:])
        lut[i + 1:] = np.clip(np.rint(cum.astype(np.float32) * scale), 0, 255)
        out[k] = lut[a[k]]
    return out


def _spatter_shade(liquid8: np.ndarray) -> np.ndarray:
    """The water's shading of make_cifar_c.py's spatter (uint8 ``(N, H, W)``): the distance to the
    Canny edges of the drops, truncated at 20, blurred, equalised, embossed, blurred."""
    dist = np.minimum(_cv2_distance_transform5(_cv2_canny(liquid8, 50, 150)), np.float32(20))  # THRESH_TRUNC
    dist = _cv2_equalize_hist(_cv2_box3_f32(dist).astype(np.uint8))
    emboss = _correlate3(dist.astype(np.int64), [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], "reflect")  # filter2D
    return _cv2_box3_u8(np.clip(emboss, 0, 255).astype(np.uint8))


def spatter(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """Water drops (severities 1-3: a bright turquoise film shaded by the distance to the edges of
    a thresholded blurred noise layer) or mud (4-5: brown blobs). Draws ``normal(c0, c1, (N, H, W))``."""
    N, H, W, _ = x.shape
    a = x.astype(np.float32) / 255.0
    liquid = _gaussian(rng.normal(c[0], c[1], size=(N, H, W)), c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        # (liquid * 255).astype(uint8) wraps above 255 on x86, as the original's cast did
        liquid8 = ((liquid * 255).astype(np.int64) & 255).astype(np.uint8)
        m = liquid8 * _spatter_shade(liquid8).astype(np.float32)    # float32
        peak = m.max(axis=(1, 2), keepdims=True)
        # The original divides by the peak; an image without any drop (peak 0) would be all NaN
        # there (and end up black): here it stays clean.
        m = np.where(peak > 0, m / np.where(peak > 0, peak, 1), np.float32(0)) * np.float32(c[4])
        color = np.array([175 / 255.0, 238 / 255.0, 238 / 255.0], np.float32)   # pale turquoise
        return np.uint8(np.clip(a + m[..., None] * color, 0, 1) * np.float32(255))
    m = _gaussian(np.where(liquid > c[3], 1, 0).astype(np.float32), c[4])   # float32, as the original asks
    m[m < 0.8] = 0
    color = np.array([63 / 255.0, 42 / 255.0, 20 / 255.0], np.float32) * m[..., None]   # mud brown
    a *= (1 - m[..., None])
    return _to_uint8(a + color)


_FLOAT_OPS = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
              "speckle_noise": speckle_noise, "defocus_blur": defocus_blur, "gaussian_blur": gaussian_blur,
              "contrast": contrast, "brightness": brightness, "saturate": saturate}
_UINT8_OPS = {"pixelate": pixelate, "jpeg_compression": jpeg_compression}
_NUMPY_OPS = {"glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur, "snow": snow,
              "frost": frost, "fog": fog, "elastic_transform": elastic_transform, "spatter": spatter}


def corrupt(x: Tensor, name: str, severity: int, generator: torch.Generator | None = None,
            batch_size: int = 2048) -> Tensor:
    """Corrupt uint8 images ``(N, 3, H, W)`` with ``name`` at ``severity`` (1-5); uint8 out.

    Random corruptions draw from ``generator`` (the global torch RNG if None), one batch of at
    most ``batch_size`` images at a time; the NumPy ones through :func:`numpy_rng`."""
    if name not in SEVERITIES:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W), got {x.dtype} {tuple(x.shape)}")
    c = SEVERITIES[name][severity - 1]
    if name in _UINT8_OPS:
        return _UINT8_OPS[name](x, c)
    out = []
    for k in range(0, len(x), batch_size):
        if name in _NUMPY_OPS:
            if ndimage is None:
                raise ModuleNotFoundError(f"corruption {name!r} needs SciPy (pip install scipy, see requirements.txt)")
            xb = x[k:k + batch_size].permute(0, 2, 3, 1).cpu().numpy()
            y = _NUMPY_OPS[name](xb, c, numpy_rng(generator))
            out.append(torch.from_numpy(np.ascontiguousarray(y)).permute(0, 3, 1, 2).to(x.device))
            continue
        xf = x[k:k + batch_size].double() / 255.0
        y = _FLOAT_OPS[name](xf, c, generator)
        out.append(torch.floor(y.clamp(0, 1) * 255).to(torch.uint8))   # np.uint8() truncates
    return torch.cat(out).contiguous() if out else x.clone()
