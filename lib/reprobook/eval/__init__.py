"""Evaluation on frozen features: linear probe, kNN."""
from .features import extract_features
from .knn import knn_accuracy
from .linear_probe import ProbeResult, accuracy, linear_probe
from .robustness import CorruptionErrors, corruption_errors, mean_corruption_error
