"""`finetune-course finetune` and `predict` on folders of pictures the tests write, and on every bad input."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from finetune_course.cli import main
from finetune_course.data import write_image_folder
from finetune_course.finetune import FinetuneError, load_finetuned, predict_files, read_folder, stratified_split

FAST = ["--head-epochs", "3", "--block-epochs", "2", "--batch-size", "20", "--no-progress"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("pictures") / "shapes", splits={"train": 10, "val": 12})


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "model"
    assert main(["finetune", str(shapes / "train"), "--val", str(shapes / "val"), "--out", str(out), *FAST]) == 0
    return out


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_finetune_writes_a_model_folder_that_keeps_the_best_epoch(trained, shapes, capsys):
    assert {p.name for p in trained.iterdir()} == {"model.pt", "model.json", "report.md", "curves.png",
                                                   "confusion_matrix.png"}
    meta = json.loads((trained / "model.json").read_text())
    assert meta["classes"] == ["arrow", "frame", "l_shape", "star4", "trapezoid"]
    assert meta["history"]["stage"] == [1, 1, 1, 2, 2] and (meta["train_pictures"], meta["val_pictures"]) == (50, 60)
    val_acc = meta["history"]["val_acc"]
    assert meta["kept_epoch"] == val_acc.index(max(val_acc)) + 1 and meta["val_acc"] == round(max(val_acc), 4)
    assert meta["val_acc"] >= 0.6 and meta["preprocessing"]["input_size"] == 64
    assert f"| {meta['kept_epoch']} | " in (trained / "report.md").read_text()
    # the model in the folder is the kept epoch's: its accuracy on the validation pictures is the recorded one
    files = sorted((shapes / "val").glob("*/*.png"))
    predictions = predict_files(trained, files)
    accuracy = sum(p.label == Path(p.file).parent.name for p in predictions) / len(files)
    assert abs(accuracy - meta["val_acc"]) < 1e-6
    assert all(0 < p.probability <= 1 and p.label in meta["classes"] for p in predictions)
    model, classes, preprocess = load_finetuned(trained)
    assert classes == meta["classes"] and not model.training and preprocess.mean == meta["preprocessing"]["mean"]


@pytest.mark.slow
def test_predict_prints_each_file_with_its_class_and_probability(trained, shapes, capsys):
    files = [shapes / "val" / "frame" / "0001.png", shapes / "val" / "star4" / "0003.png"]
    assert main(["predict", str(trained), *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(f) for f in files]
    for line in lines:
        _, label, probability = line.split("\t")
        assert label in ("arrow", "frame", "l_shape", "star4", "trapezoid") and 0 < float(probability) <= 1


@pytest.mark.slow
def test_without_a_validation_folder_a_stratified_fifth_is_held_out(shapes, tmp_path):
    out = tmp_path / "model"
    assert main(["finetune", str(shapes / "train"), "--out", str(out), *FAST]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert (meta["train_pictures"], meta["val_pictures"]) == (40, 10) and meta["val_dir"] is None
    train, val = stratified_split([0] * 10 + [1] * 10 + [2] * 5)
    assert sorted(train + val) == list(range(25)) and not set(train) & set(val)
    assert [sum(1 for i in val if i in range(a, b)) for a, b in ((0, 10), (10, 20), (20, 25))] == [2, 2, 1]


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


def test_bad_input_gets_a_clear_error_and_nothing_is_lost(tmp_path, capsys):
    root = write_image_folder(tmp_path / "pictures", splits={"train": 2, "val": 2})
    before = snapshot(root)
    out = str(tmp_path / "model")
    # the parent of train/ and val/, given as if those were classes
    message = _error(capsys, "finetune", str(root), "--out", out)
    assert "look like splits, not classes" in message
    assert f"itself ({root / 'train'}) and the validation one with --val ({root / 'val'})" in message
    # one class only
    one = tmp_path / "one"
    (one / "cats").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(one / "cats" / "a.png")
    assert "1 class folder(s) (cats)" in _error(capsys, "finetune", str(one), "--out", out)
    # an empty class folder
    (one / "dogs").mkdir()
    assert f"class folder {one / 'dogs'} is empty" in _error(capsys, "finetune", str(one), "--out", out)
    # a file that is not a picture, by its name, and one that only pretends to be
    (one / "dogs" / "notes.txt").write_text("walk at 6")
    assert f"{one / 'dogs' / 'notes.txt'} is not a picture" in _error(capsys, "finetune", str(one), "--out", out)
    (one / "dogs" / "notes.txt").unlink()
    (one / "dogs" / "b.jpg").write_bytes(b"not a jpeg at all")
    assert f"{one / 'dogs' / 'b.jpg'} is not a picture that can be read" in _error(
        capsys, "finetune", str(one), "--out", out)
    # a folder that does not exist, and validation classes that differ from the training ones
    assert "is not a folder" in _error(capsys, "finetune", str(tmp_path / "nowhere"), "--out", out)
    other = write_image_folder(tmp_path / "other", "source", splits={"val": 1})
    assert "classes" in _error(capsys, "finetune", str(root / "train"), "--val", str(other / "val"), "--out", out)
    # a model folder that is not one, and a non-empty folder as --out
    assert "is not a model folder: expected model.json and model.pt" in _error(
        capsys, "predict", str(root), str(root / "train" / "arrow" / "0000.png"))
    assert "is not empty" in _error(capsys, "finetune", str(root / "train"), "--out", str(root))
    assert snapshot(root) == before, "a failed run changed the pictures"
    assert not Path(out).exists()


def test_a_class_with_one_picture_cannot_be_split(tmp_path):
    with pytest.raises(FinetuneError, match="at least 2"):
        stratified_split([0, 0, 1])


@pytest.mark.slow
def test_predict_names_a_file_it_cannot_read(trained, tmp_path, capsys):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\x00" * 20)
    assert f"{bad} is not a picture that can be read" in _error(capsys, "predict", str(trained), str(bad))
    assert f"{tmp_path / 'missing.png'} does not exist" in _error(capsys, "predict", str(trained),
                                                                  str(tmp_path / "missing.png"))


def test_read_folder_reads_what_imagefolder_reads(tmp_path):
    root = write_image_folder(tmp_path, splits={"train": 1})
    folder = read_folder(root / "train")
    assert folder.classes == sorted(folder.classes) and len(folder) == 5
    assert torch.is_tensor(torch.as_tensor(folder.targets))
