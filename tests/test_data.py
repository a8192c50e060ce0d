"""The shape tasks are deterministic, balanced as promised, and bad input gets a clear error."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from finetune_course.data import (TASKS, RandomRotateFlip, ShapesDataset, load_image_folder, load_torchvision_dataset, make_loader,
                                  make_shapes)
from finetune_course.shapes import SHAPES, render


def sha(ds):
    return hashlib.sha256(ds.images.numpy().tobytes()).hexdigest()


# Recorded once; a change here means every lesson's data (and the checkpoint's task) changed.
GOLDEN = {
    ("source", "train"): "d1fb611d28be801f76d15f1c3524d1720ed7de1f78e582e03eb606202b2699af",
    ("target", "train"): "7563a83411195792ef9159d961b9481df8d34c444a1b99a80d637d8c60c3674e",
    ("rare", "val"): "6f0fae1a8e2afb12763c104fa578c0069c1f0e802977a481e64dc0b8bea569a7",
    ("colour", "val"): "959504da80521d6fcc43df8830b13525f7548fee29d98dc5117c85a752c0924b",
}


@pytest.mark.parametrize("task, split", list(GOLDEN))
def test_same_seed_same_pixels_as_recorded(task, split):
    assert sha(make_shapes(task, split, num_images=24)) == GOLDEN[(task, split)]


def test_seed_and_split_change_the_pictures():
    base = make_shapes("target", "train", per_class=2)
    assert sha(make_shapes("target", "train", per_class=2, seed=1)) != sha(base)
    assert sha(make_shapes("target", "val", per_class=2)) != sha(base)
    assert sha(make_shapes("source", "train", num_images=10)) != sha(base)


def test_smaller_split_is_a_prefix_of_a_larger_one():
    small, large = make_shapes("target", "train", per_class=2), make_shapes("target", "train", per_class=4)
    assert torch.equal(small.images, large.images[:10])
    assert torch.equal(small.targets, large.targets[:10])


def test_tasks_have_the_promised_shape():
    source, target = TASKS["source"], TASKS["target"]
    assert len(source.classes) >= 8 and source.per_class["train"] * len(source.classes) >= 2000
    assert not set(source.classes) & set(target.classes), "target classes must be unseen by the checkpoint"
    assert target.per_class["train"] <= 20 and target.per_class["val"] > target.per_class["train"]
    assert set(source.classes) | set(target.classes) <= set(SHAPES)


def test_default_target_split_is_balanced_and_sized():
    ds = make_shapes("target", "train")
    assert len(ds) == 100 and ds.images.shape == (100, 3, 64, 64) and ds.images.dtype == torch.uint8
    assert ds.class_counts() == {name: 20 for name in TASKS["target"].classes}
    assert ds.class_to_idx["arrow"] == 0


def test_rare_task_positive_rate_is_eight_percent():
    ds = make_shapes("rare", "val")
    counts = ds.class_counts()
    assert len(ds) == 1000 and counts == {"other": 920, "arrow": 80}
    # negatives are drawn from several unseen shapes, never arrows: check by re-rendering
    rng = np.random.default_rng([0, TASKS["rare"].code, 1, 0])
    neg = TASKS["rare"].shapes[int(rng.integers(len(TASKS["rare"].shapes)))]
    assert np.array_equal(render(neg, rng), ds.images[0].numpy())


def test_pictures_are_not_blank_and_shape_differs_from_background():
    ds = make_shapes("source", "train", per_class=1)
    for image in ds.images:
        assert image.float().std() > 10, "every picture shows a shape on a background"


def test_transform_is_applied_per_item():
    ds = make_shapes("target", "train", per_class=1, transform=lambda x: x.float() / 255)
    image, label = ds[3]
    assert image.dtype == torch.float32 and image.max() <= 1 and label == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(task="imagenet"), "unknown task"),
    (dict(split="holdout"), "unknown split"),
    (dict(per_class=0), "at least one picture"),
    (dict(per_class=2, num_images=3), "not both"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_shapes(**kwargs)


def test_dataset_checks_its_tensors():
    with pytest.raises(ValueError, match="uint8"):
        ShapesDataset(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match="2 images but 3 targets"):
        ShapesDataset(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), ["a"])


def test_image_folder_reads_your_own_class_folders(tmp_path):
    for name, colour in (("cats", (200, 50, 50)), ("dogs", (50, 50, 200))):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), colour).save(tmp_path / name / f"{i}.png")
    ds = load_image_folder(tmp_path, transform=lambda im: torch.tensor(im.getpixel((0, 0))))
    assert ds.classes == ["cats", "dogs"] and len(ds) == 6
    pixel, label = ds[4]
    assert label == 1 and pixel.tolist() == [50, 50, 200]


def test_image_folder_errors_name_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*one sub-folder per class"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(FileNotFoundError, match="no pictures found"):
        load_image_folder(tmp_path)


def test_torchvision_dataset_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_torchvision_dataset("CIFAR10", tmp_path)
    with pytest.raises(ValueError, match="no dataset 'Cifar11'"):
        load_torchvision_dataset("Cifar11", tmp_path)


def test_torchvision_dataset_present_locally_loads(tmp_path):
    # A real on-disk format: MNIST's raw idx files, written here as a student's copy would be.
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 7], dtype=np.uint8)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([2, 28, 28], dtype=">i4").tobytes() + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([2], dtype=">i4").tobytes() + labels.tobytes())
    ds = load_torchvision_dataset("MNIST", tmp_path, train=True)
    assert len(ds) == 2 and ds[1][1] == 7
    assert np.array_equal(np.asarray(ds[0][0]), images[0])


def test_loader_shuffles_by_seed_and_refuses_empty_data():
    ds = make_shapes("target", "train", per_class=4)
    order = lambda seed: torch.cat([y for _, y in make_loader(ds, batch_size=5, shuffle=True, seed=seed)])
    assert torch.equal(order(3), order(3)) and not torch.equal(order(3), order(4))
    with pytest.raises(ValueError, match="empty"):
        make_loader(torch.utils.data.TensorDataset(torch.zeros(0, 3)))


def test_rotate_flip_keeps_pixels_and_covers_all_eight_poses():
    image = torch.arange(2 * 4 * 4, dtype=torch.uint8).reshape(2, 4, 4)
    augment = RandomRotateFlip()
    poses = set()
    torch.manual_seed(0)
    for _ in range(200):
        out = augment(image)
        assert torch.equal(out.flatten().sort().values, image.flatten().sort().values)
        poses.add(tuple(out.flatten().tolist()))
    assert len(poses) == 8


def test_write_image_folder_writes_the_task_as_picture_files(tmp_path):
    from PIL import Image

    from finetune_course.data import write_image_folder

    root = write_image_folder(tmp_path / "pictures", splits={"train": 3, "val": 2})
    assert sorted(p.name for p in (root / "train").iterdir()) == sorted(TASKS["target"].classes)
    assert sorted(p.name for p in (root / "train" / "arrow").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    memory = make_shapes("target", "val", per_class=2)
    frames = [image for image, label in zip(memory.images, memory.targets) if memory.classes[label] == "frame"]
    on_disk = torch.from_numpy(np.array(Image.open(root / "val" / "frame" / "0001.png"))).permute(2, 0, 1)
    assert torch.equal(on_disk, frames[1])


def test_colour_task_shapes_wear_their_class_colour():
    from finetune_course.shapes import COLOURS

    ds = make_shapes("colour", "train", per_class=4)
    assert ds.classes == list(COLOURS) and ds.class_counts() == {name: 4 for name in COLOURS}
    for image, label in zip(ds.images, ds.targets):
        # the shape's pixels are the ones farthest from the picture's corner colour (the background)
        pixels = image.reshape(3, -1).float()
        corner = pixels[:, :1]
        shape = pixels[:, (pixels - corner).abs().sum(0) > 120]
        want = torch.tensor(COLOURS[ds.classes[label]], dtype=torch.float32)
        assert (shape.median(dim=1).values - want).abs().max() <= 45, (ds.classes[label], shape.median(dim=1).values)
