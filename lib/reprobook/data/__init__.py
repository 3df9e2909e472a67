"""Datasets, class lists, device-resident batches, and batched augmentations."""
from .augment import (ColorJitter, Compose, Normalize, RandomCrop, RandomGrayscale,
                      RandomHorizontalFlip, RandomResizedCrop, ToFloat, simclr_augment,
                      standard_augment, eval_transform, fewshot_augment)
from .batches import TensorBatches
from .corruptions import BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from .cifar import data_roots, load_cifar
from .classes import (CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR100_COARSE_CLASSES,
                      CIFAR100_FINE_TO_COARSE, CIFAR100_SUPERCLASSES, CIFAR_MEAN, CIFAR_STD)
from .dataset import ImageDataset
from .stl10 import STL10_CLASSES, load_stl10
from .errors import CorruptDataError, DataNotFoundError
from .fewshot import FEWSHOT_DATASETS, RFS_CIFAR_MEAN, RFS_CIFAR_STD, fewshot_classes, load_fewshot
