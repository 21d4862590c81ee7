"""What a dataset is to tinydeploy: uint8 images, int64 labels, a train and a test split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydeploy.errors import DataError


@dataclass(frozen=True)
class ImageDataset:
    """A classification dataset held in memory.

    Images are uint8 arrays of shape (N, C, H, W); the models see them as float x / 255.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.ndim != 4 or images.dtype != np.uint8:
                raise DataError(
                    f"{self.name}: {split} images must be uint8 (N, C, H, W), "
                    f"got {images.dtype} {images.shape}"
                )
            if labels.shape != (images.shape[0],):
                raise DataError(
                    f"{self.name}: {split} has {images.shape[0]} images but "
                    f"{labels.shape[0] if labels.ndim else 0} labels"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(
                f"{self.name}: train images {self.train_images.shape[1:]} and test images "
                f"{self.test_images.shape[1:]} differ in shape"
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        if self.class_names:
            return len(self.class_names)
        return int(max(self.train_labels.max(), self.test_labels.max())) + 1
