"""Evaluation on frozen features: linear probe, kNN, few-shot episodes, mutual information."""
from .features import extract_features, project_2d
from .fewshot import (CLASSIFIERS as FEWSHOT_CLASSIFIERS, Episode, EpisodeSampler, FewShotResult, evaluate_episodes,
                      mean_confidence_interval)
from .knn import knn_accuracy
from .linear_probe import ProbeResult, accuracy, linear_probe
from .robustness import CorruptionErrors, corruption_errors, mean_corruption_error
from .mutual_information import (MIEstimate, correlated_gaussians, estimate_mi, estimate_mi_from_critic,
                                 gaussian_log_ratio, gaussian_mi, rho_for_mi)
