"""MNIST and Fashion-MNIST from standard IDX files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydeploy.data import locate
from tinydeploy.data.base import ImageDataset
from tinydeploy.data.idx import read_idx
from tinydeploy.data.registry import register_dataset
from tinydeploy.errors import DataError

_SPLIT_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class IdxSource:
    name: str
    md5: dict[str, str]  # checksums of the files as the public mirrors serve them
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    counts: tuple[int, int] = (60_000, 10_000)


MNIST = IdxSource(
    name="mnist",
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    class_names=tuple(str(d) for d in range(10)),
    system_dirs=(Path("/usr/share/datasets/mnist"),),
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)


def find_idx_folder(source: IdxSource, data_dir: str | Path | None = None) -> Path | None:
    """The folder holding all four IDX files of `source` (see `locate.search_roots`), or None."""
    roots = locate.search_roots(data_dir, source.system_dirs)
    return locate.find_files(source.name, list(_SPLIT_FILES.values()), roots)


def load_idx_dataset(source: IdxSource, data_dir: str | Path | None) -> ImageDataset:
    names = list(_SPLIT_FILES.values())
    folder = find_idx_folder(source, data_dir)
    if folder is None:
        if data_dir is not None:
            raise DataError(
                f"{source.name} files not found in {data_dir} (looked for {', '.join(names)} "
                f"in {data_dir} and {Path(data_dir) / source.name})"
            )
        folder = locate.download(source.name, source.md5, source.mirrors)
    arrays = {
        key: read_idx(folder / fname, ndim=3 if key.endswith("images") else 1)
        for key, fname in _SPLIT_FILES.items()
    }
    for split, count in zip(("train", "test"), source.counts, strict=True):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != count or labels.shape[0] != count:
            raise DataError(
                f"{folder}: {source.name} {split} split has {images.shape[0]} images and "
                f"{labels.shape[0]} labels, expected {count} of each"
            )
        if images.shape[1:] != (28, 28):
            raise DataError(f"{folder}: {split} images are {images.shape[1:]}, expected 28x28")
    return ImageDataset(
        name=source.name,
        train_images=np.ascontiguousarray(arrays["train_images"][:, None]),
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=np.ascontiguousarray(arrays["test_images"][:, None]),
        test_labels=arrays["test_labels"].astype(np.int64),
        class_names=source.class_names,
    )


@register_dataset("mnist")
def load_mnist(data_dir: str | Path | None = None) -> ImageDataset:
    return load_idx_dataset(MNIST, data_dir)


@register_dataset("fashion-mnist")
def load_fashion_mnist(data_dir: str | Path | None = None) -> ImageDataset:
    return load_idx_dataset(FASHION_MNIST, data_dir)
