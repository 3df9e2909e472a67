"""Simulation substitutes for data that cannot be downloaded.

- :mod:`reprobook.sim.pushing`: planar pushing of rigid polygonal objects on MuJoCo, a stand-in
  for the Omnipush pushes (Bauza et al. 2019);
- :mod:`reprobook.sim.omnipush_objects`: the Omnipush object grammar (ids -> pieces, mass,
  centre of mass, inertia);
- :mod:`reprobook.sim.omnipush_pushes`: the push protocol, pushes per object and the benchmark's
  files written by :func:`~reprobook.sim.omnipush_pushes.generate_dataset`
  (``reprobook omnipush-sim`` on the command line).

Used by book/08-omnipush (and the EVF chapter, which pushes the same objects).
"""
from __future__ import annotations

from .omnipush_objects import mass_properties, object_pieces, omnipush_object
from .omnipush_pushes import PushProtocol, generate_dataset, push_outcomes, sample_pushes, simulate_object
from .pushing import ABS, GRAVITY, PLYWOOD, PlanarObject, PushResult, PushSimulator, Surface

__all__ = ["ABS", "GRAVITY", "PLYWOOD", "PlanarObject", "PushResult", "PushSimulator", "Surface",
           "omnipush_object", "object_pieces", "mass_properties", "PushProtocol", "generate_dataset",
           "push_outcomes", "sample_pushes", "simulate_object"]
