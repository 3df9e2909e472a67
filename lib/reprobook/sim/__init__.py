"""Simulation substitutes for data that cannot be downloaded.

:mod:`reprobook.sim.pushing`: planar pushing of rigid polygonal objects on MuJoCo, a stand-in
for the Omnipush pushes (Bauza et al. 2019).
"""
from __future__ import annotations

from .pushing import ABS, GRAVITY, PLYWOOD, PlanarObject, PushResult, PushSimulator, Surface

__all__ = ["ABS", "GRAVITY", "PLYWOOD", "PlanarObject", "PushResult", "PushSimulator", "Surface"]
