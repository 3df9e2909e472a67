"""Procedural tile maps of Neural MMO v1.3 (Suarez et al. 2020, arXiv 2001.12004).

The paper's map is a ridged fractal noise field thresholded into tiles, inside a ring of lava.
The official v1.3 generator is ``scripts/terrain.py`` of NeuralMMO/environment at tag ``v1.3``
(commit c8441124); references below are ``file:line`` in that commit.

Layout of a map of ``size=62, border=9`` (the official ``Config.SZ, Config.BORDER``,
``forge/blade/core/config.py:18-19``), shape ``(80, 80)``:

- rows/columns ``0..border-1`` and ``R-border..R-1``: LAVA (``scripts/terrain.py:117-118``);
- the ring at ``border`` and ``R-border-1``: GRASS, the official spawn ring
  (``scripts/terrain.py:119-120``, ``forge/blade/core/config.py:47-55``);
- the rest (``size - 2`` tiles a side): the thresholded fractal (``scripts/terrain.py:101-111``).

The official noise is OpenSimplex; ours is value noise (a random lattice per octave, smoothstep
interpolated) with the same ridge construction, octave weights and thresholds, so the tile
fractions are close but not identical to the official maps.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Tile", "IMPASSABLE", "WALKABLE", "WATER_BELOW", "GRASS_BELOW", "FOREST_BELOW",
           "N_OCTAVES", "SCALE_DIVISOR", "walkable", "passable", "fractal", "generate_map",
           "spawn_ring", "spawn_positions"]


class Tile(IntEnum):
    """Tile materials with the official indices (``forge/blade/lib/enums.py:18-43``).

    SCRUB is a depleted FOREST tile (``Forest.degen = Scrub``, ``enums.py:32``); it never appears
    in a freshly generated map. The official OREROCK (index 6) is unused in v1.3 maps and omitted.
    """

    LAVA = 0
    WATER = 1
    GRASS = 2
    SCRUB = 3
    FOREST = 4
    STONE = 5


IMPASSABLE = (Tile.WATER, Tile.STONE)
"""Tiles a move cannot enter (official ``IMPASSIBLE = (1, 5, 6)``, ``forge/blade/lib/enums.py:65``).
Lava is *not* impassable officially: entering it kills (``forge/blade/entity/player.py:35-37``)."""

WALKABLE = (Tile.GRASS, Tile.SCRUB, Tile.FOREST)
"""Tiles an agent can stand on and survive (passable and not lava)."""

WATER_BELOW = 0.3
"""Official: normalised noise ``< 0.3`` is WATER (``scripts/terrain.py:104``)."""
GRASS_BELOW = 0.57
"""Official: ``0.3 <= v < 0.57`` is GRASS (``scripts/terrain.py:106``)."""
FOREST_BELOW = 0.715
"""Official: ``0.57 <= v < 0.715`` is FOREST, ``v >= 0.715`` STONE (``scripts/terrain.py:108-111``)."""
N_OCTAVES = 8
"""Official: 8 octaves of weight ``0.5**i`` and frequency ``2**i`` (``scripts/terrain.py:75-76,81``)."""
SCALE_DIVISOR = 5
"""Official: base frequency ``scale = map side / 5`` lattice cells (``scripts/terrain.py:142``)."""


def _lookup(table: np.ndarray, tile) -> np.ndarray:
    """``table[tile]`` for valid tile indices, ``table[255]`` (the default) elsewhere; ``table``
    has 256 entries, so an int8 map (the environment's) is one gather."""
    t = np.asarray(tile)
    if t.dtype in (np.int8, np.uint8):
        return table[t.view(np.uint8)]                               # -1 -> 255, the default
    inside = (t >= 0) & (t < len(Tile))
    return np.where(inside, table[np.where(inside, t, 0).astype(np.int64)], table[-1])


_WALKABLE = np.zeros(256, dtype=bool)
_WALKABLE[list(WALKABLE)] = True
_PASSABLE = np.ones(256, dtype=bool)
_PASSABLE[list(IMPASSABLE)] = False


def walkable(tile) -> np.ndarray:
    """Boolean mask (same shape as ``tile``): GRASS, SCRUB or FOREST."""
    return _lookup(_WALKABLE, tile)


def passable(tile) -> np.ndarray:
    """Boolean mask: a move may enter the tile (everything but WATER and STONE; LAVA is lethal)."""
    return _lookup(_PASSABLE, tile)


def _value_noise(n: int, cells: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in [0, 1] on an ``(n, n)`` pixel grid spanning ``cells`` lattice cells.

    A uniform random lattice of ``ceil(cells) + 2`` points a side (at a random sub-cell offset)
    is interpolated bilinearly with smoothstep weights.
    """
    m = int(np.ceil(cells)) + 2
    lattice = rng.random((m, m), dtype=np.float64)
    offset = rng.random(2)
    u = np.arange(n) * (cells / n)
    ur, uc = u + offset[0], u + offset[1]
    ir, ic = np.floor(ur).astype(np.int64), np.floor(uc).astype(np.int64)
    fr, fc = ur - ir, uc - ic
    sr, sc = fr * fr * (3 - 2 * fr), fc * fc * (3 - 2 * fc)
    a = lattice[np.ix_(ir, ic)]
    b = lattice[np.ix_(ir, ic + 1)]
    c = lattice[np.ix_(ir + 1, ic)]
    d = lattice[np.ix_(ir + 1, ic + 1)]
    top = a + (b - a) * sc[None, :]
    bottom = c + (d - c) * sc[None, :]
    return top + (bottom - top) * sr[:, None]


def fractal(n: int, seed: int = 0, n_octaves: int = N_OCTAVES, scale: float | None = None) -> np.ndarray:
    """Ridged fractal noise, shape ``(n, n)``, float64 in [0, 1] with maximum exactly 1.

    As the official ``ridge`` (``scripts/terrain.py:56-73,81-88``): octave ``i`` has weight
    ``0.5**i`` and ``2**i * scale`` lattice cells, ``sharp = 1 - |2 * noise - 1|`` folds the noise
    into ridges, and every octave after the first is multiplied by the running sum of the
    previous ones; the sum is divided by its maximum. ``scale`` defaults to ``n / 5``.
    """
    if n < 2:
        raise ValueError(f"fractal side must be >= 2, got {n}")
    if n_octaves < 1:
        raise ValueError(f"n_octaves must be >= 1, got {n_octaves}")
    scale = n / SCALE_DIVISOR if scale is None else float(scale)
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rng = np.random.default_rng(seed)
    total = np.zeros((n, n))
    for i in range(n_octaves):
        sharp = 1.0 - np.abs(2.0 * _value_noise(n, scale * 2 ** i, rng) - 1.0)
        v = 0.5 ** i * sharp
        if i > 0:
            v = v * total
        total = total + v
    return total / total.max()


def generate_map(size: int = 62, border: int = 9, seed: int = 0, n_octaves: int = N_OCTAVES,
                 water_below: float = WATER_BELOW, grass_below: float = GRASS_BELOW,
                 forest_below: float = FOREST_BELOW) -> np.ndarray:
    """A tile map, ``int8`` array of shape ``(size + 2 * border, size + 2 * border)``.

    ``border`` rings of LAVA, one ring of GRASS (the spawn ring), then the thresholded
    :func:`fractal` (computed on the whole map, as officially). Deterministic in ``seed``.
    """
    if int(size) != size or size < 3:
        raise ValueError(f"map size must be an integer >= 3, got {size}")
    if int(border) != border or border < 1:
        raise ValueError(f"border must be an integer >= 1, got {border}")
    if not 0.0 <= water_below <= grass_below <= forest_below <= 1.0:
        raise ValueError("thresholds must satisfy 0 <= water_below <= grass_below <= forest_below <= 1")
    n = int(size) + 2 * int(border)
    v = fractal(n, seed=seed, n_octaves=n_octaves)
    tiles = np.full((n, n), Tile.STONE, dtype=np.int8)
    tiles[v < forest_below] = Tile.FOREST
    tiles[v < grass_below] = Tile.GRASS
    tiles[v < water_below] = Tile.WATER
    b = int(border)
    tiles[b, b:n - b] = tiles[n - b - 1, b:n - b] = Tile.GRASS
    tiles[b:n - b, b] = tiles[b:n - b, n - b - 1] = Tile.GRASS
    tiles[:b, :] = tiles[n - b:, :] = Tile.LAVA
    tiles[:, :b] = tiles[:, n - b:] = Tile.LAVA
    return tiles


def spawn_ring(shape: tuple[int, int], border: int = 9) -> np.ndarray:
    """The official spawn tiles, ``int64 (K, 2)`` of (r, c): the GRASS ring just inside the lava.

    Official ``Config.SPAWN`` (``forge/blade/core/config.py:47-55``) lists this ring (with the
    corners twice; ours lists each tile once).
    """
    R, C = shape
    lo_r, hi_r, lo_c, hi_c = border, R - border - 1, border, C - border - 1
    if hi_r <= lo_r or hi_c <= lo_c:
        raise ValueError(f"border {border} leaves no interior in a map of shape {shape}")
    ring = np.zeros((R, C), dtype=bool)
    ring[lo_r, lo_c:hi_c + 1] = ring[hi_r, lo_c:hi_c + 1] = True
    ring[lo_r:hi_r + 1, lo_c] = ring[lo_r:hi_r + 1, hi_c] = True
    return np.argwhere(ring)


def spawn_candidates(shape: tuple[int, int], border: int = 9, where: str = "ring") -> np.ndarray:
    """Tiles of the spawn region, ``int64 (K, 2)``, before the walkability filter:
    :func:`spawn_ring` (``where="ring"``, official) or every tile inside the lava border
    (``where="interior"``, ours)."""
    if where == "ring":
        return spawn_ring(shape, border)
    if where == "interior":
        inside = np.zeros(shape, dtype=bool)
        inside[border:shape[0] - border, border:shape[1] - border] = True
        return np.argwhere(inside)
    raise ValueError(f"unknown spawn region {where!r}; expected 'ring' or 'interior'")


def spawn_positions(tiles: np.ndarray, n: int, rng: np.random.Generator, border: int = 9,
                    where: str = "ring", candidates: np.ndarray | None = None) -> np.ndarray:
    """``n`` spawn positions, ``int64 (n, 2)`` of (r, c), drawn uniformly with replacement.

    ``where="ring"`` (official): walkable tiles of the spawn ring (:func:`spawn_ring`); agents
    may share a tile, as officially. ``where="interior"`` (ours): any walkable tile inside the
    lava border. ``candidates``: :func:`spawn_candidates` computed once (the environment caches
    them per map; ``where`` and ``border`` are then not used).
    """
    tiles = np.asarray(tiles)
    if tiles.ndim != 2:
        raise ValueError(f"tiles must be a 2-D map, got shape {tiles.shape}")
    if int(n) != n or n < 0:
        raise ValueError(f"number of spawns must be a non-negative integer, got {n}")
    cand = spawn_candidates(tiles.shape, border, where) if candidates is None else candidates
    cand = cand[walkable(tiles[cand[:, 0], cand[:, 1]])]
    if len(cand) == 0:
        raise ValueError("no walkable spawn tile")
    return cand[rng.integers(0, len(cand), size=int(n))]
