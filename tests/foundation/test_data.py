from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from tinydeploy.data import available_datasets, load_dataset
from tinydeploy.data.idx import read_idx
from tinydeploy.errors import DataError, TinydeployError


def _write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def test_mnist_loads_with_canonical_shapes(mnist) -> None:
    assert mnist.train_images.shape == (60000, 1, 28, 28)
    assert mnist.test_images.shape == (10000, 1, 28, 28)
    assert mnist.train_images.dtype == np.uint8
    assert sorted(np.unique(mnist.test_labels)) == list(range(10))
    assert mnist.num_classes == 10 and mnist.input_shape == (1, 28, 28)


def test_fashion_mnist_loads(data_dir: Path) -> None:
    ds = load_dataset("fashion-mnist", data_dir)
    assert ds.test_labels.shape == (10000,)
    assert ds.class_names[9] == "Ankle boot"


def test_env_var_locates_data(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYDEPLOY_DATA", str(data_dir))
    assert load_dataset("mnist").train_labels.shape == (60000,)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_raw_and_gzip(tmp_path: Path, gz: bool) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.idx", arr, gz=gz)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.idx", ndim=3), arr)


def test_truncated_idx_is_a_clear_error(tmp_path: Path, data_dir: Path) -> None:
    raw = gzip.decompress((data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "labels").write_bytes(raw[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "labels")


def test_truncated_gzip_is_a_clear_error(tmp_path: Path, data_dir: Path) -> None:
    data = (data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "labels.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "labels.gz")


def test_bad_magic_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"PK\x03\x04not an idx file at all")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "junk")


def test_wrong_data_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found in"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")


def test_wrong_counts_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.zeros((5, 28, 28), np.uint8)
    labels = np.zeros(5, np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match="expected 60000"):
        load_dataset("mnist", tmp_path)


def test_unknown_dataset_lists_choices() -> None:
    with pytest.raises(TinydeployError, match=r"unknown dataset 'cifar99'.*mnist"):
        load_dataset("cifar99")
    assert "fashion-mnist" in available_datasets()


def test_offline_download_failure_says_where_to_put_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinydeploy.data import locate, mnist

    monkeypatch.delenv("TINYDEPLOY_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # Unroutable mirror: the download fails at once without touching the network.
    source = mnist.IdxSource(
        name="mnist", md5=mnist.MNIST.md5, mirrors=("http://127.0.0.1:9/",),
        class_names=mnist.MNIST.class_names, system_dirs=(),
    )
    monkeypatch.setattr(locate, "cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(DataError, match="TINYDEPLOY_DATA"):
        mnist.load_idx_dataset(source, None)


def test_download_verifies_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local HTTP mirror serving a file with the wrong checksum is refused."""
    import http.server
    import threading

    from tinydeploy.data import locate

    served = tmp_path / "mirror"
    served.mkdir()
    (served / "a.gz").write_bytes(b"not the real file")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(served), **k
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(locate, "cache_dir", lambda: tmp_path / "cache")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(DataError, match="checksum mismatch"):
            locate.download("demo", {"a.gz": "0" * 32}, [url])
        good = locate.md5_of(served / "a.gz")
        folder = locate.download("demo", {"a.gz": good}, [url])
        assert (folder / "a.gz").read_bytes() == b"not the real file"
        assert not list(folder.glob("*.tmp"))
    finally:
        server.shutdown()
        server.server_close()


def test_npz_and_folder_datasets(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (6, 8, 8), dtype=np.uint8)
    y = np.array([0, 1, 0, 1, 0, 1])
    np.savez(tmp_path / "toy.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    ds = load_dataset(f"npz:{tmp_path / 'toy.npz'}")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 2

    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            folder = tmp_path / "imgs" / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(x[i]).save(folder / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert ds.class_names == ("cat", "dog")
    assert ds.train_images.shape == (4, 1, 8, 8)
    np.testing.assert_array_equal(ds.train_images[0, 0], x[0])
