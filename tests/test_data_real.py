"""Real data-set loaders on tiny fixtures in each distributed format, the download helper, and `medadv data`."""
from __future__ import annotations

import argparse
import hashlib
import http.server
import pickle
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from fixtures_data import write_aptos, write_chexpert, write_eyepacs, write_medmnist, write_nih, write_pcam
from medadv.data import catalog, chestxray, fundus, medmnist, pcam
from medadv.data.base import DataError
from medadv.data.download import check_file, download, gunzip


def disjoint(data) -> bool:
    return not set(data.pool.patients.tolist()) & set(data.test.patients.tolist())


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medadv")
    catalog.add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


# ------------------------------------------------------------------------------------------------------- PCam

def test_pcam_lazy_pool_and_test(tmp_path: Path) -> None:
    written = write_pcam(tmp_path)
    data = pcam.load(tmp_path, image_size=96)
    assert isinstance(data.pool.images, pcam.H5Images) and data.pool.images.shape == (12, 16, 16, 3)
    assert len(data.pool) == 12 and len(data.test) == 6
    assert data.pool.labels.tolist() == [0, 1] * 4 + [0, 1] * 2 and data.pool.labels.dtype == np.int64
    assert data.pool.patients[0] == "train_wsi_0" and data.pool.patients[9] == "valid_wsi_0"
    assert disjoint(data) and data.pool.meta["patient_unit"] == "wsi" and data.pool.meta["official_val"] == (8, 12)
    train_x, valid_x = written["train"][0], written["valid"][0]
    both = np.concatenate([train_x, valid_x])
    assert np.array_equal(data.pool.images[[9, 2, 2, 11]], both[[9, 2, 2, 11]])  # any order, repeats, across files
    assert np.array_equal(data.pool.images[3], both[3]) and np.array_equal(data.pool.images[-1], both[-1])
    assert np.array_equal(data.pool.images[1:10:3], both[1:10:3])
    sub = data.pool.subset(np.array([10, 0]))
    assert not isinstance(sub.images, np.ndarray)  # a subset of a lazy reader stays lazy
    assert np.array_equal(np.asarray(sub.images), both[[0, 10]]) and np.array_equal(sub.images[[1]], both[[10]])
    assert sub.names.tolist() == ["train_000000", "valid_000002"] and data.test.names[5] == "test_000005"
    clone = pickle.loads(pickle.dumps(data.pool.images))  # worker processes get their own file handles
    assert np.array_equal(clone[[0]], both[[0]])
    with pytest.raises(IndexError):
        data.pool.images[[12]]


def test_h5_reads_dense_and_sparse_rows(tmp_path: Path) -> None:
    rows = np.arange(300, dtype=np.int16).reshape(300, 1, 1, 1) * np.ones((1, 2, 2, 3), np.int16)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("x", data=rows)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        for index in ([0, 1, 2, 5, 299], list(range(0, 300, 7)), [3, 150, 298], list(range(40, 90))):
            got = pcam._read_sorted(f["x"], np.array(index), window=32)
            assert np.array_equal(got[:, 0, 0, 0], index)


def test_pcam_without_meta_each_patch_is_a_patient(tmp_path: Path) -> None:
    write_pcam(tmp_path, meta=False)
    data = pcam.load(tmp_path, image_size=96)
    assert data.pool.meta["patient_unit"] == "patch" and len(set(data.pool.patients)) == 12 and disjoint(data)


def test_pcam_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        pcam.load(tmp_path / "nowhere", image_size=96)
    write_pcam(tmp_path)
    (tmp_path / pcam.file_name("valid", "y")).unlink()
    with pytest.raises(DataError, match="valid_y.h5.*medadv data prepare pcam"):
        pcam.load(tmp_path, image_size=96)
    write_pcam(tmp_path)
    x = tmp_path / pcam.file_name("test", "x")
    x.write_bytes(x.read_bytes()[: x.stat().st_size // 2])  # truncated download
    with pytest.raises(DataError, match="truncated"):
        pcam.load(tmp_path, image_size=96)
    write_pcam(tmp_path)
    with h5py.File(tmp_path / pcam.file_name("test", "x"), "w") as f:
        f.create_dataset("x", data=np.zeros((6, 16, 16, 3), np.float32))
    with pytest.raises(DataError, match="expected N×H×W×3 uint8"):
        pcam.load(tmp_path, image_size=96)
    write_pcam(tmp_path)
    with h5py.File(tmp_path / pcam.file_name("train", "y"), "w") as f:
        f.create_dataset("y", data=np.full((8, 1, 1, 1), 2, np.uint8))
    with pytest.raises(DataError, match=r"label values \[2\]"):
        pcam.load(tmp_path, image_size=96)
    write_pcam(tmp_path)
    meta = tmp_path / pcam.file_name("test", "meta")
    meta.write_text(meta.read_text().replace("wsi", "slide"))
    with pytest.raises(DataError, match="no 'wsi' column"):
        pcam.load(tmp_path, image_size=96)
    write_pcam(tmp_path)
    meta.write_text(meta.read_text().replace("test_wsi_0", "train_wsi_0"))  # a slide in pool and test
    with pytest.raises(DataError, match="also in train/valid"):
        pcam.load(tmp_path, image_size=96)
    assert disjoint(pcam.load(tmp_path, image_size=96, patients="patch"))


# ------------------------------------------------------------------------------------------------------ fundus

def test_eyepacs_referable_patient_split_and_cache(tmp_path: Path) -> None:
    table = write_eyepacs(tmp_path, patients=10)
    data = fundus.load(tmp_path, image_size=32, test_fraction=0.2, seed=0)
    assert len(data.pool) + len(data.test) == 20 and len(data.test) == 4  # 2 of 10 patients, both eyes
    assert disjoint(data) and data.pool.images.shape[1:] == (32, 32, 3) and data.pool.images.dtype == np.uint8
    assert data.pool.label_names == ("non-referable", "referable")
    grades = dict(zip(table.image, table.level))
    for part in (data.pool, data.test):
        expected = [int(grades[n] >= 2) for n in part.names]
        assert part.labels.tolist() == expected
        assert all(p == n.rsplit("_", 1)[0] for p, n in zip(part.patients, part.names))
    # the field-of-view crop fills the square with the retina: its centre and its edge midpoints are bright
    img = data.pool.images[0]
    assert img[16, 16, 0] > 150 and img[16, 1, 0] > 100 and img[1, 16, 0] > 100 and img[0, 0, 0] < 60
    caches = sorted((tmp_path / ".medadv_cache").glob("*.npy"))
    assert len(caches) == 2  # pool and test
    again = fundus.load(tmp_path, image_size=32, test_fraction=0.2, seed=0)
    assert isinstance(again.pool.images, np.memmap) and np.array_equal(again.pool.images, data.pool.images)
    stricter = fundus.load(tmp_path, image_size=32, referable_grade=3)
    assert stricter.pool.labels.sum() + stricter.test.labels.sum() == sum(v >= 3 for v in table.level)


def test_fundus_parallel_decoding_matches(tmp_path: Path) -> None:
    write_eyepacs(tmp_path, patients=3)
    serial = fundus.load(tmp_path, image_size=16, cache=False)
    parallel = fundus.load(tmp_path, image_size=16, cache=False, workers=2)
    assert np.array_equal(serial.pool.images, parallel.pool.images)


def test_fov_threshold_is_the_papers_option(tmp_path: Path) -> None:
    """A dim halo 8 grey levels above the black frame is field of view at threshold 5 (the default) but not at the
    paper's 10: the crop differs, each has its own cache, and the threshold is recorded."""
    photo = np.zeros((48, 64, 3), np.uint8)
    photo[4:44, 4:60] = (8, 8, 8)  # the halo
    photo[14:34, 22:42] = (200, 90, 40)  # the retina
    assert not np.array_equal(fundus.fov_crop(photo, 16, 5), fundus.fov_crop(photo, 16, 10))
    assert fundus.fov_crop(photo, 16, 10)[8, 0, 1] > 60  # at 10 the crop is the retina's box, filled to the edge
    write_eyepacs(tmp_path, patients=3)
    Image.fromarray(photo).save(tmp_path / "train" / "10_left.jpeg", quality=100)
    default, paper = (fundus.load(tmp_path, image_size=16, fov_threshold=t) for t in (5, 10))
    assert paper.pool.meta["preprocessing"] == {"fov_crop": True, "fov_threshold": 10}
    assert default.pool.meta["preprocessing"]["fov_threshold"] == 5
    first = lambda data: np.flatnonzero(np.r_[data.pool.names, data.test.names] == "10_left")  # noqa: E731
    images = lambda data: np.concatenate([data.pool.images, data.test.images])  # noqa: E731
    assert not np.array_equal(images(default)[first(default)], images(paper)[first(paper)])
    assert len(list((tmp_path / ".medadv_cache").glob("*.npy"))) == 4  # pool and test, per threshold
    with pytest.raises(DataError, match="fov_threshold must be a grey level"):
        fundus.load(tmp_path, image_size=16, fov_threshold=-1)


def test_fov_crop_pads_to_square() -> None:
    img = np.zeros((40, 80, 3), np.uint8)
    img[10:30, 20:60] = (180, 120, 60)  # a 20×40 bright field of view
    out = fundus.fov_crop(img, 20)
    assert out.shape == (20, 20, 3)
    assert out[10, 10, 1] > 100 and out[1, 10, 1] < 10 and out[18, 10, 1] < 10  # black bands above and below
    assert out[10, 0, 1] > 100 and out[10, 19, 1] > 100  # the field of view spans the width


def test_eyepacs_official_test_and_aptos_source(tmp_path: Path) -> None:
    write_eyepacs(tmp_path / "eyepacs", patients=4, test_patients=2)
    aptos = write_aptos(tmp_path / "aptos", n=5)
    data = fundus.load(tmp_path, image_size=16)
    assert len(data.pool) == 8 and len(data.test) == 4 and disjoint(data)
    assert set(data.test.patients) == {"100", "101"}
    assert list(data.sources) == ["aptos"] and len(data.sources["aptos"]) == 5
    assert data.sources["aptos"].labels.tolist() == [int(g >= 2) for g in aptos.diagnosis]
    main_aptos = fundus.load(tmp_path, image_size=16, variant="aptos")
    assert len(main_aptos.pool) + len(main_aptos.test) == 5 and list(main_aptos.sources) == ["eyepacs"]
    assert len(main_aptos.sources["eyepacs"]) == 12


def test_fundus_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="kaggle.com"):
        fundus.load(tmp_path, image_size=16)
    write_eyepacs(tmp_path, patients=3)
    (tmp_path / "train" / "10_left.jpeg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match="10_left.jpeg.*skip_undecodable"):
        fundus.load(tmp_path, image_size=16, cache=False)
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        data = fundus.load(tmp_path, image_size=16, skip_undecodable=True, cache=False)
    skipped = data.pool.meta["skipped_undecodable"] + data.test.meta["skipped_undecodable"]
    assert len(data.pool) + len(data.test) == 5 and len(skipped) == 1 and skipped[0].endswith("10_left.jpeg")
    (tmp_path / "train" / "11_right.jpeg").unlink()
    with pytest.raises(DataError, match=r"1 images listed in .*trainLabels.csv.*11_right"):
        fundus.load(tmp_path, image_size=16)
    (tmp_path / "trainLabels.csv").write_text("image,grade\n10_left,1\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['level'\]"):
        fundus.load(tmp_path, image_size=16)


# ------------------------------------------------------------------------------------------------ chest X-ray

def test_nih_official_split_15_outputs(tmp_path: Path) -> None:
    write_nih(tmp_path)
    data = chestxray.load(tmp_path, image_size=16)
    assert data.pool.images.shape == (8, 16, 16, 1) and data.test.images.shape == (4, 16, 16, 1)
    assert data.pool.labels.dtype == np.float32 and data.pool.labels.shape == (8, 15)
    assert data.pool.label_names == chestxray.NIH_LABELS and disjoint(data)
    assert set(data.test.patients) == {"5", "6"}
    counts = dict(zip(chestxray.NIH_LABELS, data.pool.positives()))
    assert counts["No Finding"] == 3 and counts["Cardiomegaly"] == 2 and counts["Effusion"] == 2
    assert counts["Pleural_Thickening"] == 1 and counts["Hernia"] == 0
    single = chestxray.load(tmp_path, image_size=16, finding="pleural thickening")
    assert single.pool.labels.dtype == np.int64 and single.pool.labels.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert single.pool.label_names == ("no Pleural_Thickening", "Pleural_Thickening")


def test_nih_resize_then_centre_crop_and_names(tmp_path: Path) -> None:
    """The authors' chest X-ray input: the radiograph resized to 256, then its centre 224 (improc.py); here 24 → 20
    → the centre 16. Every image keeps its file name, which split files list."""
    write_nih(tmp_path, nested=False)
    data = chestxray.load(tmp_path, image_size=16, resize=20, cache=False)
    assert data.pool.names.tolist()[:2] == ["00000001_000.png", "00000001_001.png"]
    assert data.pool.meta["preprocessing"] == {"resize": 20, "centre_crop": 16}
    with Image.open(tmp_path / "images" / "00000001_000.png") as im:
        expected = np.asarray(im.convert("L").resize((20, 20), Image.BICUBIC))[2:18, 2:18]
    assert np.array_equal(data.pool.images[0, :, :, 0], expected)
    plain = chestxray.load(tmp_path, image_size=16, cache=False)
    assert not np.array_equal(plain.pool.images, data.pool.images)  # straight to 16 px: another image
    assert plain.pool.meta["preprocessing"] == {"resize": 16, "centre_crop": 16}
    with pytest.raises(DataError, match="resize 12 is smaller than image_size 16"):
        chestxray.load(tmp_path, image_size=16, resize=12)
    with pytest.raises(DataError, match="split_file is gone: name the authors' files in the profile's split_files"):
        chestxray.load(tmp_path, image_size=16, split_file="d1.yml")


def test_split_yaml_names_stay_strings(tmp_path: Path) -> None:
    """The authors' files quote only some names; unquoted ones must stay strings, not become octal numbers."""
    from medadv.data import splits

    path = tmp_path / "d1.yml"
    path.write_text("testIDs:\n- 00000006_000\n- '00000006_001'\ntrainIDs:\n- 00000001_000\nvalIDs: []\n")
    assert splits.read_yaml(path) == {"trainIDs": ["00000001_000"], "valIDs": [],
                                      "testIDs": ["00000006_000", "00000006_001"]}
    path.write_text("trainIDs: [a]\n")
    with pytest.raises(DataError, match="must hold lists trainIDs, valIDs and testIDs"):
        splits.read_yaml(path)


def test_nih_bad_input(tmp_path: Path) -> None:
    table = write_nih(tmp_path)
    next((tmp_path / "images_001" / "images").glob("*.png")).write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="cannot decode"):
        chestxray.load(tmp_path, image_size=8, cache=False)
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        data = chestxray.load(tmp_path, image_size=8, skip_undecodable=True)
    assert len(data.pool) + len(data.test) == 11
    again = chestxray.load(tmp_path, image_size=8, skip_undecodable=True)  # from the cache, same images left out
    assert np.array_equal(again.pool.images, data.pool.images) and len(again.test) == len(data.test)
    with pytest.raises(DataError, match="could not be decoded"):
        chestxray.load(tmp_path, image_size=8)  # the cache remembers the broken file
    (tmp_path / "images_001" / "images" / "00000003_000.png").unlink()
    with pytest.raises(DataError, match="not on disk.*00000003_000.png.*only_present"):
        chestxray.load(tmp_path, image_size=8, skip_undecodable=True)
    table.drop(columns="Patient ID").to_csv(tmp_path / "Data_Entry_2017.csv", index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['Patient ID'\]"):
        chestxray.load(tmp_path, image_size=8)


def test_nih_list_naming_an_unknown_image_is_refused(tmp_path: Path) -> None:
    """Names in the official lists that the CSV lacks were dropped without a word (#20 item 6)."""
    write_nih(tmp_path)
    for name in ("test_list.txt", "train_val_list.txt"):
        original = (tmp_path / name).read_text()
        (tmp_path / name).write_text(original + "99999999_000.png\n")
        with pytest.raises(DataError, match=f"1 images named in .*{name} are not in the data set's CSV.*99999999_000"):
            chestxray.load(tmp_path, image_size=8)
        with pytest.raises(DataError, match="99999999_000"):
            chestxray.verify(tmp_path)
        (tmp_path / name).write_text(original)


@pytest.mark.parametrize("content", ["", "Image Index,Finding Labels,Patient ID\n"], ids=["empty", "header only"])
def test_empty_csv_is_a_data_error(tmp_path: Path, content: str) -> None:
    """An empty chest X-ray CSV gave pandas' EmptyDataError traceback (#20 item 5); fundus CSVs share the reader."""
    write_nih(tmp_path / "chestxray")
    (tmp_path / "chestxray" / "Data_Entry_2017.csv").write_text(content)
    with pytest.raises(DataError, match="Data_Entry_2017.csv.*download it again"):
        chestxray.verify(tmp_path / "chestxray")
    write_eyepacs(tmp_path / "fundus", patients=2)
    (tmp_path / "fundus" / "trainLabels.csv").write_text(content and "image,level\n")
    with pytest.raises(DataError, match="trainLabels.csv.*download it again"):
        fundus.verify(tmp_path / "fundus")


def test_chexpert_uncertain_and_patients(tmp_path: Path) -> None:
    write_chexpert(tmp_path)
    data = chestxray.load(tmp_path, image_size=12)
    assert data.pool.images.shape == (6, 12, 12, 1) and len(data.test) == 2 and disjoint(data)
    assert set(data.pool.patients) == {"patient00001", "patient00002", "patient00003"}
    cardio = chestxray.CHEXPERT_LABELS.index("Cardiomegaly")
    assert data.pool.labels[:, cardio].tolist() == [1, 1, 0, 0, 0, 0]  # uncertain → 0
    ones = chestxray.load(tmp_path, image_size=12, uncertain=1, finding="cardiomegaly")
    assert ones.pool.labels.tolist() == [1] * 6 and ones.pool.label_names == ("no Cardiomegaly", "Cardiomegaly")


# --------------------------------------------------------------------------------------------------- MedMNIST

def test_medmnist_sets(tmp_path: Path) -> None:
    write_medmnist(tmp_path, "pneumoniamnist", 28)
    write_medmnist(tmp_path, "pneumoniamnist", 64)
    data = medmnist.load(tmp_path, image_size=48, subset="pneumoniamnist")
    assert data.pool.images.shape == (14, 64, 64, 1) and data.pool.meta["stored_size"] == 64
    assert data.pool.meta["domain"] == "radiology" and disjoint(data) and len(data.test) == 6
    assert medmnist.load(tmp_path, image_size=28, subset="pneumoniamnist").pool.images.shape[1] == 28
    write_medmnist(tmp_path, "retinamnist", 28, channels=3, labels=5)
    retina = medmnist.load(tmp_path, image_size=28, subset="retinamnist")
    assert retina.pool.images.shape == (14, 28, 28, 3) and retina.pool.label_names == ("non-referable", "referable")
    grades = np.concatenate([np.arange(10) % 5, np.arange(4) % 5])
    assert retina.pool.labels.tolist() == (grades >= 2).astype(int).tolist()
    write_medmnist(tmp_path, "chestmnist", 28, labels=14, multilabel=True)
    chest = medmnist.load(tmp_path, image_size=28, subset="chestmnist")
    assert chest.pool.labels.shape == (14, 14) and chest.pool.labels.dtype == np.float32 and chest.pool.multilabel


def test_medmnist_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prepare medmnist --subset pathmnist --size 64"):
        medmnist.load(tmp_path, image_size=64, subset="pathmnist")
    path = write_medmnist(tmp_path, "pathmnist", 28, channels=1, labels=9)  # grey, but pathmnist is RGB
    with pytest.raises(DataError, match="expected N×H×W×3 uint8"):
        medmnist.load(tmp_path, image_size=28, subset="pathmnist")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="truncated or corrupted"):
        medmnist.load(tmp_path, image_size=28, subset="pathmnist")
    write_medmnist(tmp_path, "pneumoniamnist", 28, labels=3)
    with pytest.raises(DataError, match=r"labels must be in \[0, 1\]"):
        medmnist.load(tmp_path, image_size=28, subset="pneumoniamnist")
    with pytest.raises(ValueError, match="subset must be one of"):
        medmnist.load(tmp_path, image_size=28, subset="dermamnist")


# -------------------------------------------------------------------------------------------- download helper

class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with optional HTTP Range support; records the Range header of each request."""

    files: dict[str, bytes] = {}
    ranges: list[str | None] = []
    honour_range = True

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = self.files.get(self.path.split("?")[0].lstrip("/"))
        self.ranges.append(self.headers.get("Range"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.honour_range and self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    RangeHandler.files, RangeHandler.ranges, RangeHandler.honour_range = {}, [], True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", RangeHandler
    httpd.shutdown()
    httpd.server_close()


def test_download_checksum_resume_and_atomicity(tmp_path: Path, server) -> None:
    url, handler = server
    body = bytes(range(256)) * 40_000  # 10 MB: several chunks
    md5 = hashlib.md5(body).hexdigest()
    handler.files["data.bin"] = body
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(body[:3_000_000])  # an interrupted earlier download
    download(f"{url}/data.bin?download=1", dest, md5=md5)
    assert dest.read_bytes() == body and handler.ranges == ["bytes=3000000-"]
    assert not dest.with_name("data.bin.part").exists()
    download(f"{url}/data.bin", dest, md5=md5)  # present and matching: no request
    assert len(handler.ranges) == 1
    check_file(dest, md5=md5, sha256=hashlib.sha256(body).hexdigest())
    with pytest.raises(DataError, match="sha256"):
        check_file(dest, sha256="0" * 64)
    # a server that ignores Range sends everything again: the download starts over, not appends
    handler.honour_range = False
    other = tmp_path / "other.bin"
    other.with_name("other.bin.part").write_bytes(b"stale bytes")
    download(f"{url}/data.bin", other, md5=md5)
    assert other.read_bytes() == body
    # a wrong checksum: nothing is placed and the partial file is removed
    bad = tmp_path / "bad.bin"
    with pytest.raises(DataError, match="wrong md5"):
        download(f"{url}/data.bin", bad, md5="0" * 32)
    assert not bad.exists() and not bad.with_name("bad.bin.part").exists()
    # a partial file that is already complete: the server answers 416 and the file is verified and placed
    handler.honour_range = True
    done = tmp_path / "done.bin"
    done.with_name("done.bin.part").write_bytes(body)
    download(f"{url}/data.bin", done, md5=md5)
    assert done.read_bytes() == body and handler.ranges[-1] == f"bytes={len(body)}-"
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/missing.bin", tmp_path / "missing.bin")


def test_gunzip_checks_md5(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "a.gz").write_bytes(gzip.compress(b"hello"))
    gunzip(tmp_path / "a.gz", tmp_path / "a", md5=hashlib.md5(b"hello").hexdigest())
    assert (tmp_path / "a").read_bytes() == b"hello"
    with pytest.raises(DataError, match="md5"):
        gunzip(tmp_path / "a.gz", tmp_path / "b", md5="0" * 32)
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------------------------- `medadv data`

def test_verify_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pcam(tmp_path / "pcam")
    assert run_cli(["data", "verify", "pcam", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train: 8 images, 4 patients, images (8, 16, 16, 3) uint8; positives: 4 (metastasis)" in out
    assert "valid: 4 images" in out and "test: 6 images, 3 patients" in out
    write_nih(tmp_path / "chestxray")
    assert run_cli(["data", "verify", "chestxray", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nih pool: 8 images, 4 patients; positives per output:" in out
    assert any(line.split() == ["Cardiomegaly", "2"] for line in out.splitlines())
    assert "nih test: 4 images, 2 patients" in out
    assert run_cli(["data", "verify", "chestxray", "--data-root", str(tmp_path), "-o", "finding=Mass"]) == 0
    assert "nih pool: 8 images, 4 patients; positives: 1 (Mass)" in capsys.readouterr().out
    write_eyepacs(tmp_path / "fundus", patients=5)
    assert run_cli(["data", "verify", "fundus", "--data-root", str(tmp_path), "-o", "test_fraction=0.4"]) == 0
    out = capsys.readouterr().out
    assert "eyepacs pool: 6 images, 3 patients" in out and "eyepacs test: 4 images, 2 patients" in out
    path = write_medmnist(tmp_path / "medmnist", "pneumoniamnist", 28)
    assert run_cli(["data", "verify", "medmnist", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pneumoniamnist.npz train: 10 images, images (10, 28, 28) uint8; positives: 5 (pneumonia)" in out
    assert "pneumoniamnist.npz test: 6 images" in out


def test_verify_checksums_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_medmnist(tmp_path / "medmnist", "pneumoniamnist", 28)
    assert run_cli(["data", "verify", "medmnist", "--checksums", "--data-root", str(tmp_path)]) == 2
    assert "md5" in capsys.readouterr().err  # our fixture is not the official file
    monkeypatch.setitem(medmnist.MD5, ("pneumoniamnist", 28), hashlib.md5(path.read_bytes()).hexdigest())
    assert run_cli(["data", "verify", "medmnist", "--checksums", "--data-root", str(tmp_path)]) == 0
    assert "official checksums match" in capsys.readouterr().out
    assert run_cli(["data", "verify", "pcam", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pcam is not in" in err and "medadv data prepare pcam" in err


def test_list_and_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                          server) -> None:
    monkeypatch.setenv("MEDADV_DATA", str(tmp_path))
    write_pcam(tmp_path / "pcam")
    assert run_cli(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out
    assert "present: 6/6 HDF5 files" in out and f"{tmp_path / 'fundus'}" in out
    assert sum("absent" in line for line in out.splitlines()) == 3
    assert run_cli(["data", "prepare", "fundus"]) == 0
    out = capsys.readouterr().out
    assert "kaggle.com/c/diabetic-retinopathy-detection" in out and str(tmp_path / "fundus") in out
    # prepare medmnist from a local server standing in for Zenodo
    url, handler = server
    body = write_medmnist(tmp_path / "src", "retinamnist", 64, channels=3, labels=5).read_bytes()
    handler.files["retinamnist_64.npz"] = body
    monkeypatch.setattr(medmnist, "ZENODO", url + "/{file}?download=1")
    monkeypatch.setitem(medmnist.MD5, ("retinamnist", 64), hashlib.md5(body).hexdigest())
    assert run_cli(["data", "prepare", "medmnist", "--subset", "retinamnist", "--size", "64"]) == 0
    assert (tmp_path / "medmnist" / "retinamnist_64.npz").read_bytes() == body
    # --data-root may also name the data set's own folder
    assert run_cli(["data", "verify", "medmnist", "--data-root", str(tmp_path / "medmnist")]) == 0
    assert "retinamnist_64.npz train: 10 images" in capsys.readouterr().out
    data = medmnist.load(catalog.dataset_dir("medmnist"), image_size=64, subset="retinamnist")
    assert data.pool.images.shape == (14, 64, 64, 3) and data.pool.meta["domain"] == "ophthalmology"


def test_prepare_pcam_gunzips_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, server) -> None:
    import gzip

    url, handler = server
    write_pcam(tmp_path / "src", counts={"train": 4, "valid": 2, "test": 2})
    md5 = lambda data: hashlib.md5(data).hexdigest()  # noqa: E731
    for path in sorted((tmp_path / "src").iterdir()):
        data = path.read_bytes()
        monkeypatch.setitem(pcam.MD5, path.name, md5(data))
        if path.suffix == ".h5":
            handler.files[path.name + ".gz"] = gzip.compress(data)
            monkeypatch.setitem(pcam.GZ_MD5, path.name + ".gz", md5(handler.files[path.name + ".gz"]))
        else:
            handler.files[path.name] = data
    monkeypatch.setattr(pcam, "ZENODO", url + "/{name}?download=1")
    assert run_cli(["data", "prepare", "pcam", "--data-root", str(tmp_path / "data")]) == 0
    folder = tmp_path / "data" / "pcam"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (tmp_path / "src").iterdir())
    assert run_cli(["data", "verify", "pcam", "--checksums", "--data-root", str(tmp_path / "data")]) == 0
    assert "pcam at" in capsys.readouterr().out
    handler.files["camelyonpatch_level_2_split_test_y.h5.gz"] = b"corrupted"  # a bad download is refused
    (folder / "camelyonpatch_level_2_split_test_y.h5").unlink()
    assert run_cli(["data", "prepare", "pcam", "--data-root", str(tmp_path / "data")]) == 2
    assert "wrong md5" in capsys.readouterr().err and not (folder / "camelyonpatch_level_2_split_test_y.h5").exists()
