"""Sampling-based planning over learned models: the cross-entropy method (CEM)."""
from .cem import CEMResult, cem
