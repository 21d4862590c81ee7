"""User datasets without code: an .npz file or an ImageFolder-like directory of PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydeploy.data.base import ImageDataset
from tinydeploy.data.registry import register_scheme
from tinydeploy.errors import DataError

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm"}


def _as_nchw(images: np.ndarray, what: str) -> np.ndarray:
    if images.dtype != np.uint8:
        raise DataError(f"{what}: images must be uint8 (0..255), got {images.dtype}")
    if images.ndim == 3:  # N, H, W: single channel
        return images[:, None]
    if images.ndim == 4:
        return images
    raise DataError(f"{what}: images must be (N, H, W) or (N, C, H, W), got {images.shape}")


@register_scheme("npz")
def load_npz(path: Path) -> ImageDataset:
    """Arrays x_train, y_train, x_test, y_test; optional class_names."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}") from exc
    missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
    if missing:
        raise DataError(f"{path} lacks arrays {sorted(missing)}")
    names = tuple(str(n) for n in archive["class_names"]) if "class_names" in archive else ()
    return ImageDataset(
        name=path.stem,
        train_images=_as_nchw(archive["x_train"], f"{path} x_train"),
        train_labels=archive["y_train"].astype(np.int64),
        test_images=_as_nchw(archive["x_test"], f"{path} x_test"),
        test_labels=archive["y_test"].astype(np.int64),
        class_names=names,
    )


@register_scheme("folder")
def load_folder(path: Path) -> ImageDataset:
    """train/<class>/*.png and test/<class>/*.png; class order is sorted folder names."""
    from PIL import Image  # pillow comes with matplotlib

    classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir()) if (
        path / "train"
    ).is_dir() else []
    if not classes:
        raise DataError(f"{path} must contain train/<class>/ and test/<class>/ image folders")
    splits = {}
    for split in ("train", "test"):
        images, labels = [], []
        for label, cls in enumerate(classes):
            folder = path / split / cls
            for file in sorted(folder.iterdir()) if folder.is_dir() else []:
                if file.suffix.lower() in _IMAGE_SUFFIXES:
                    with Image.open(file) as img:
                        images.append(np.asarray(img.convert("L"), dtype=np.uint8))
                    labels.append(label)
        if not images:
            raise DataError(f"{path / split} holds no images")
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise DataError(f"{path / split}: images differ in size {sorted(shapes)}")
        splits[split] = (np.stack(images)[:, None], np.array(labels, dtype=np.int64))
    return ImageDataset(
        name=path.name,
        train_images=splits["train"][0],
        train_labels=splits["train"][1],
        test_images=splits["test"][0],
        test_labels=splits["test"][1],
        class_names=tuple(classes),
    )
