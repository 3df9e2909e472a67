"""Simulated environments (pure numpy) used by the book's reinforcement-learning chapters."""
