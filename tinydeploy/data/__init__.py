"""Datasets: IDX reader, dataset registry, locating/downloading files, torch loaders."""

from tinydeploy.data.base import ImageDataset
from tinydeploy.data.registry import (
    available_datasets,
    load_dataset,
    register_dataset,
    register_scheme,
)

__all__ = [
    "ImageDataset",
    "available_datasets",
    "load_dataset",
    "register_dataset",
    "register_scheme",
]
