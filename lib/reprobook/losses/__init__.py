"""Losses, one module per family, each with its paper's equation in the docstring."""
from .contrastive import contrastive_limit, info_nce, info_nce_bound, info_nce_from_similarities
from .hypersphere import align_loss, align_uniform_loss, uniform_loss
from .supcon import SupConLoss, supcon_loss, supcon_terms
from .nce import MemoryBank, PartitionEstimate, nce_loss, softmax_bank_loss
from .multiview import CrossViewInfoNCE, MultiviewContrast, view_pairs
from .crd import CRDLoss
from .distill import DISTILLERS, Distiller, build_distiller, kd_loss
from .policy_gradient import discounted_returns, policy_gradient_loss
