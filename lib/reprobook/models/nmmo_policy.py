"""The Neural MMO v1.3 policy ("game IO" networks, arXiv 2001.12004 §4), over :class:`NeuralMMO` obs.

Book: chapter 10-neural-mmo (``book/10-neural-mmo``). Official code: NeuralMMO/environment at tag
``v1.3`` (commit c8441124), cited ``file:line``.

The network reads an observation in three stages (``forge/ethyr/torch/io/stimulus.py``):

1. **Attributes -> entity embeddings.** Each attribute ``x_a`` of an entity is embedded on its
   own (``TaggedInput``, ``policy/embed.py:38-60``: a ``Linear(1, h)`` for a continuous attribute,
   an ``Embedding`` for a discrete one, concatenated with a learned tag and projected ``2h -> h``;
   the tag is a constant, so this is an affine map of ``x_a`` per attribute), then an attention
   over the ``F`` attribute embeddings, max-pooled, gives the entity's embedding
   (``policy/attention.py:51-72``; ``baseline.py:20-27``)::

       A = softmax_{dim=-2}(Q K^T / sqrt(h)) V,     e = max_rows A              (1)

   Note the softmax runs over the *queries* (``dim=-2``, ``attention.py:34``), as the official
   code; a row-wise softmax is the textbook form.
2. **Entities -> observation.** The same attention (1) over the entity embeddings, max-pooled,
   beside a convolution over the 15x15 tile embeddings (``Conv2d(h, h, 3)``, ``MaxPool2d(2)``,
   ``Linear(36h, h)``), concatenated and projected ``Linear(2h, h)`` (``baseline.py:30-62``): the
   flat observation ``s`` (the "hidden state").
3. **Actions by keying.** Each action argument is chosen among candidate embeddings ``c_j`` by
   ``logit_j = <key(s), val(c_j)>`` with two 2-layer ReLU blocks (``DotReluBlock``,
   ``attention.py:119-132``; ``io/action.py:76-94``), one network for all arguments. The
   candidates are learned embeddings of the moves and the 3 styles (``nn.Embedding`` of the
   static action arguments, ``stimulus.py:32,55-65``) and, for the target, the embeddings of
   the agents within ``target_range`` (officially every style's candidates are the agents within
   ``MELEERANGE = 1`` plus the attacker itself, whose choice means no attack,
   ``forge/blade/io/action/static.py:109-124,135-137,158``; here a learned "no attack" embedding
   takes the attacker's place).

The value is ``Linear(h, 1)`` of ``s`` (``projekt/ann.py:17-44``).

Populations (``projekt/ann.py:47-123``): v1.3's code shares the input and output networks across
all populations and gives each population its own value head (``share="io"``); the paper
describes weights shared within a population and separate across populations
(``share="population"``, the default here: one whole network per population).

Differences from v1.3 (ours), all from the environment's observation and action space
(:mod:`reprobook.envs.nmmo.env`):

- 5 moves including "stay" (officially 4 directions, ``action/static.py:74-77``);
- the entity attributes are the env's :data:`~reprobook.envs.nmmo.env.ENTITY_FEATURES` (the
  official ones include damage taken, time alive and wilderness and no skill levels,
  ``stimulus/static.py:34-112``); all but the population are continuous, scaled by
  :data:`FEATURE_SCALE` (the official R, C and Self are discrete embeddings);
- the tile embedding is a learned table of the tile type (officially a tile's attributes are its
  index, occupancy and relative position, through their own attribute attention,
  ``stimulus/static.py:124-159``);
- observations are padded to ``E`` rows with a mask instead of variable-length lists.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..envs.nmmo.combat import FREEZE_TICKS, IMMUNE_TICKS, MAX_LEVEL
from ..envs.nmmo.env import ENTITY_FEATURES, VIEW_RADIUS
from ..envs.nmmo.rules import INITIAL_HEALTH, INITIAL_RESOURCE
from ..envs.nmmo.terrain import Tile

__all__ = ["FEATURE_SCALE", "ACTION_HEADS", "Attention", "DotReluBlock", "NMMOPolicy", "PopulationPolicy",
           "obs_to_tensors", "sample_actions"]

FEATURE_SCALE = {"dr": VIEW_RADIUS, "dc": VIEW_RADIUS, "food": INITIAL_RESOURCE, "water": INITIAL_RESOURCE,
                 "health": INITIAL_HEALTH, "melee": MAX_LEVEL, "range": MAX_LEVEL, "mage": MAX_LEVEL,
                 "defense": MAX_LEVEL, "constitution": MAX_LEVEL, "immune": IMMUNE_TICKS,
                 "freeze": FREEZE_TICKS, "self": 1}
"""Divisors of the entity columns (ours); ``population`` is discrete (an embedding, as officially)."""

ACTION_HEADS = ("move", "style", "target")
"""The action arguments, in the order of the policy's logits."""

_POP = ENTITY_FEATURES.index("population")
_CONT = [i for i, f in enumerate(ENTITY_FEATURES) if f != "population"]
_REL = [ENTITY_FEATURES.index("dr"), ENTITY_FEATURES.index("dc")]


class Attention(nn.Module):
    """Eq. (1): ``softmax(Q K^T / sqrt(h))`` over the queries (official ``dim=-2``), times ``V``,
    max-pooled over the rows (``attention.py:26-72``), with an optional row mask.

    ``x`` (..., N, d_in), ``mask`` (..., N) bool or None -> (..., d_out).
    """

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.Q, self.K, self.V = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out), nn.Linear(d_in, d_out)
        self.scale = math.sqrt(d_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        Q, K, V = self.Q(x), self.K(x), self.V(x)
        scores = Q @ K.transpose(-2, -1) / self.scale                 # (..., N queries, N keys)
        if mask is not None:
            scores = scores.masked_fill(~mask[..., :, None], float("-inf"))   # normalise over valid queries
        weights = torch.softmax(scores, dim=-2)
        if mask is not None:
            weights = weights * mask[..., None, :]                    # invalid keys contribute nothing
        out = weights @ V                                             # (..., N, d_out)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], float("-inf"))
        return out.max(dim=-2).values


class DotReluBlock(nn.Module):
    """``logit_j = <key(s), val(c_j)>`` with ``key``, ``val`` = Linear, ReLU, Linear
    (``attention.py:119-132``, ``linear.py:8-26``). ``s`` (B, h), ``c`` (B, J, h) -> (B, J)."""

    def __init__(self, h: int):
        super().__init__()
        self.key = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))
        self.val = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))

    def forward(self, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (self.key(s)[:, None, :] * self.val(c)).sum(-1)


class NMMOPolicy(nn.Module):
    """One population's network: observation -> (logits per action head, value).

    Args:
        hidden: ``HIDDEN = EMBED = 32`` (``experiments.py:41-42``).
        populations: rows of the population embedding (the env's ``populations``).
        n_tiles: tile types (``len(Tile)``).
        view: side of the tile crop (15).
        target_range: Chebyshev distance of the agents offered as targets (official
            ``MELEERANGE = 1``); ``None``: every visible agent.
    """

    def __init__(self, hidden: int = 32, populations: int = 8, n_tiles: int = len(Tile),
                 view: int = 2 * VIEW_RADIUS + 1, target_range: int | None = 1):
        super().__init__()
        if target_range is not None and (int(target_range) != target_range or target_range < 1):
            raise ValueError(f"target_range must be a positive integer or None, got {target_range}")
        self.target_range = target_range
        h = self.hidden = int(hidden)
        n_cont = len(_CONT)
        # affine embedding of each continuous attribute (TaggedInput folded): x_a * W_a + b_a
        self.attr_weight = nn.Parameter(torch.randn(n_cont, h) / math.sqrt(h))
        self.attr_bias = nn.Parameter(torch.zeros(n_cont, h))
        self.population_embed = nn.Embedding(populations, h)
        self.scale = nn.Parameter(torch.tensor([float(FEATURE_SCALE[ENTITY_FEATURES[i]]) for i in _CONT]),
                                  requires_grad=False)
        self.attributes = Attention(h, h)
        self.entities = Attention(h, h)
        self.tile_embed = nn.Embedding(n_tiles, h)
        self.conv = nn.Conv2d(h, h, 3)
        self.pool = nn.MaxPool2d(2)
        side = (view - 2) // 2
        self.fc1 = nn.Linear(h * side * side, h)
        self.fc2 = nn.Linear(2 * h, h)
        self.move_embed = nn.Embedding(5, h)
        self.style_embed = nn.Embedding(3, h)
        self.no_target = nn.Parameter(torch.zeros(1, h))
        self.keying = DotReluBlock(h)
        self.value = nn.Linear(h, 1)

    def embed_entities(self, entities: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Stage 1: ``entities`` (B, E, F) raw env rows -> (B, E, h) entity embeddings."""
        x = entities[..., _CONT] / self.scale                              # (B, E, F-1)
        cont = x[..., None] * self.attr_weight + self.attr_bias           # (B, E, F-1, h)
        pop = entities[..., _POP].long().clamp(0, self.population_embed.num_embeddings - 1)
        attrs = torch.cat([cont, self.population_embed(pop)[..., None, :]], dim=-2)   # (B, E, F, h)
        emb = self.attributes(attrs)                                       # (B, E, h)
        return emb * mask[..., None]

    def encode(self, tiles: torch.Tensor, entities: torch.Tensor, mask: torch.Tensor):
        """Stages 1-2: -> the flat observation ``s`` (B, h) and the entity embeddings (B, E, h)."""
        ent = self.embed_entities(entities, mask)                          # (B, E, h)
        flat = self.entities(ent, mask)                                    # (B, h)
        t = self.tile_embed(tiles.long()).permute(0, 3, 1, 2)              # (B, h, 15, 15)
        conv = self.fc1(self.pool(self.conv(t)).flatten(1))                # (B, h)
        return self.fc2(torch.cat([flat, conv], dim=-1)), ent

    def targets(self, entities: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Legal targets (B, E + 1) bool: real entity rows within ``target_range`` but the agent
        itself (row 0), and "no attack" (column ``E``), always legal."""
        valid = mask.clone()
        if self.target_range is not None:
            rel = entities[..., _REL].abs().amax(-1)                        # Chebyshev distance
            valid &= rel <= self.target_range
        valid[:, 0] = False
        return torch.cat([valid, valid.new_ones(valid.shape[0], 1)], dim=1)

    def heads(self, s: torch.Tensor, ent: torch.Tensor, targets: torch.Tensor) -> dict:
        """Stage 3: logits ``{"move": (B, 5), "style": (B, 3), "target": (B, E + 1)}``; target
        ``E`` is "no attack", illegal targets (:meth:`targets`) are ``-inf``."""
        B = s.shape[0]
        move = self.keying(s, self.move_embed.weight.expand(B, -1, -1))
        style = self.keying(s, self.style_embed.weight.expand(B, -1, -1))
        cands = torch.cat([ent, self.no_target.expand(B, 1, -1)], dim=1)  # (B, E + 1, h)
        target = self.keying(s, cands).masked_fill(~targets, float("-inf"))
        return {"move": move, "style": style, "target": target}

    def forward(self, tiles: torch.Tensor, entities: torch.Tensor, mask: torch.Tensor):
        """``tiles`` (B, 15, 15) long, ``entities`` (B, E, F) float, ``mask`` (B, E) bool ->
        ``(logits, value (B,))`` (see :meth:`heads`)."""
        s, ent = self.encode(tiles, entities, mask)
        return self.heads(s, ent, self.targets(entities, mask)), self.value(s).squeeze(-1)


class PopulationPolicy(nn.Module):
    """Networks for ``populations`` populations; each agent is run by its population's weights.

    ``share="population"`` (the paper): one :class:`NMMOPolicy` per population.
    ``share="io"`` (v1.3's code, ``projekt/ann.py``): one network, a value head per population
    (the shared network's own value head is then unused).
    """

    def __init__(self, populations: int = 8, hidden: int = 32, share: str = "population",
                 target_range: int | None = 1):
        super().__init__()
        if share not in ("population", "io"):
            raise ValueError(f"unknown share {share!r}; expected 'population' or 'io'")
        if int(populations) != populations or populations < 1:
            raise ValueError(f"populations must be a positive integer, got {populations}")
        self.populations, self.share = int(populations), share
        n_nets = self.populations if share == "population" else 1
        self.nets = nn.ModuleList(NMMOPolicy(hidden, self.populations, target_range=target_range)
                                  for _ in range(n_nets))
        self.values = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(self.populations)) \
            if share == "io" else None

    def forward(self, tiles, entities, mask, population):
        """As :meth:`NMMOPolicy.forward`, ``population`` (B,) long selecting each row's weights."""
        B, E = tiles.shape[0], entities.shape[1]
        if entities.shape[0] != B or mask.shape != (B, E) or tuple(population.shape) != (B,):
            raise ValueError(f"a batch of {B}: entities must be ({B}, E, F), mask ({B}, E) and population "
                             f"({B},), got {tuple(entities.shape)}, {tuple(mask.shape)}, {tuple(population.shape)}")
        if B and not bool(mask[:, 0].all()):
            raise ValueError("mask[:, 0] must be set: row 0 of every observation is the agent itself")
        if population.numel() and (population.min() < 0 or population.max() >= self.populations):
            raise ValueError(f"population ids must be in [0, {self.populations}), got "
                             f"{population.min().item()}..{population.max().item()}")
        if self.share == "io":
            net = self.nets[0]
            s, ent = net.encode(tiles, entities, mask)
            value = torch.stack([v(s).squeeze(-1) for v in self.values], dim=1)   # (B, P)
            return net.heads(s, ent, net.targets(entities, mask)), value.gather(1, population[:, None]).squeeze(1)
        sizes = {"move": 5, "style": 3, "target": E + 1}
        logits = {k: tiles.new_zeros((B, n), dtype=torch.float32) for k, n in sizes.items()}
        value = tiles.new_zeros(B, dtype=torch.float32)
        for p in torch.unique(population).tolist():
            rows = population == p
            lg, v = self.nets[p](tiles[rows], entities[rows], mask[rows])
            for k in logits:
                logits[k] = logits[k].index_put((rows,), lg[k])
            value = value.index_put((rows,), v)
        return logits, value


def obs_to_tensors(obs: dict, names, device="cpu"):
    """Stack the observations of ``names`` into ``(tiles, entities, mask)`` tensors."""
    tiles = torch.as_tensor(np.stack([obs[n]["tiles"] for n in names]), device=device)
    entities = torch.as_tensor(np.stack([obs[n]["entities"] for n in names]), device=device)
    mask = torch.as_tensor(np.stack([obs[n]["mask"] for n in names]), device=device).bool()
    return tiles, entities, mask


def sample_actions(logits: dict, generator: torch.Generator | None = None) -> torch.Tensor:
    """One categorical draw per head (official ``functional.classify``): (B, 3) long, columns
    :data:`ACTION_HEADS`."""
    cols = [torch.multinomial(F.softmax(logits[k], dim=-1), 1, generator=generator).squeeze(1)
            for k in ACTION_HEADS]
    return torch.stack(cols, dim=1)
