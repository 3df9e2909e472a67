"""Training utilities shared by every chapter: seeding, the loop, checkpoints, schedules."""
from .checkpoint import load_checkpoint, save_checkpoint
from .compile import maybe_compile
from .loop import NonFiniteLossError, TrainResult, autocast_for, train
from .schedules import multistep, warmup_cosine
from .seed import make_generator, resolve_device, seed_everything
from .recipes import (fit_distill, fit_distill_init, fit_multiview, fit_supervised, fit_two_views,
                      fit_view_generator, reverse_gradient,
                      sgd_with_schedule)
