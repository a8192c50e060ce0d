"""Image tasks for the course: the offline shape tasks, your own folders, torchvision datasets.

Three related shape tasks share one picture generator (:mod:`finetune_course.shapes`):

* ``source``: 12 shapes, thousands of pictures; the course checkpoint is pretrained on it.
* ``target``: 5 shapes the checkpoint never saw, few labelled pictures per class and a larger
  held-out split; this is the task the lessons fine-tune on.
* ``rare``: is it an arrow? A binary task where the positive class is rare (8 %), for the
  metrics lesson.
* ``colour``: what colour is the shape? A task unlike the checkpoint's own (its shapes had
  random colours), for lesson 08.
* ``target_shifted``: the target task's 5 shapes from another distribution (smaller, on
  striped backgrounds, less contrast, more noise): out-of-distribution pictures for lesson 09.

Used in every lesson.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from finetune_course.shapes import IMAGE_SIZE, render

Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TaskSpec:
    """What a shape task is: its classes, how many pictures each split has, how labels fall."""

    code: int  # part of every picture's seed, so tasks never share pictures
    classes: tuple[str, ...]
    per_class: dict[str, int]  # default pictures per class, by split
    shapes: tuple[str, ...] = ()  # for ``rare``: the negative class is drawn from these
    positive_per_mille: int = 0  # for ``rare``: how many pictures in 1000 are positive
    shifted: bool = False  # drawn by ``render(..., shifted=True)``: the same classes, another distribution


TASKS: dict[str, TaskSpec] = {
    "source": TaskSpec(
        code=1,
        classes=("circle", "ring", "triangle", "square", "pentagon", "hexagon",
                 "star", "cross", "crescent", "heart", "semicircle", "bar"),
        per_class={"train": 800, "val": 100, "test": 100},
    ),
    "target": TaskSpec(
        code=2,
        classes=("arrow", "frame", "trapezoid", "l_shape", "star4"),
        per_class={"train": 20, "val": 100, "test": 100},
    ),
    "rare": TaskSpec(
        code=3,
        classes=("other", "arrow"),
        per_class={"train": 200, "val": 500, "test": 500},
        shapes=("frame", "trapezoid", "l_shape", "star4"),
        positive_per_mille=80,
    ),
    # what colour is the shape: what the checkpoint learned to ignore (its shapes had random colours)
    "colour": TaskSpec(
        code=4,
        classes=("red", "green", "blue", "yellow"),
        per_class={"train": 20, "val": 100, "test": 100},
        shapes=("arrow", "frame", "trapezoid", "l_shape", "star4"),
    ),
    # the target task's shapes drawn differently: to measure accuracy out of distribution
    "target_shifted": TaskSpec(
        code=5,
        classes=("arrow", "frame", "trapezoid", "l_shape", "star4"),
        per_class={"train": 20, "val": 100, "test": 100},
        shifted=True,
    ),
}
SPLITS = {"train": 0, "val": 1, "test": 2}


class ShapesDataset(Dataset):
    """Pictures held in memory as one ``uint8`` tensor ``(N, 3, H, W)``, like an ``ImageFolder``.

    Attributes:
        images: all pictures, ``uint8``, channels first.
        targets: class index of each picture.
        classes: class names; ``class_to_idx`` maps them back to indices.
        transform: applied to each picture by ``__getitem__`` (e.g. ``weights.transforms()``).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes: list[str],
                 transform: Transform | None = None):
        if images.ndim != 4 or images.shape[1] != 3 or images.dtype != torch.uint8:
            raise ValueError(f"images must be a uint8 tensor (N, 3, H, W); got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images, self.targets, self.classes = images, targets, list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.targets, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts)}


class RandomRotateFlip(torch.nn.Module):
    """Augmentation that keeps a shape's class: a random quarter turn, then a random mirror.

    Works on ``(..., H, W)`` tensors; uses PyTorch's global RNG, so ``seed_everything`` repeats
    it. Used in lesson 07.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = torch.rot90(image, int(torch.randint(4, ())), dims=(-2, -1))
        return image.flip(-1) if bool(torch.rand(()) < 0.5) else image


def _labels(spec: TaskSpec, n: int) -> list[int]:
    if spec.positive_per_mille:
        # Exactly positive_per_mille in every 1000, spread evenly rather than clumped.
        p = spec.positive_per_mille
        return [int((i + 1) * p // 1000 > i * p // 1000) for i in range(n)]
    return [i % len(spec.classes) for i in range(n)]


def make_shapes(task: str = "target", split: str = "train", *, per_class: int | None = None,
                num_images: int | None = None, seed: int = 0,
                transform: Transform | None = None) -> ShapesDataset:
    """Generates a split of one of the course's shape tasks, deterministically.

    Args:
        task: ``"source"``, ``"target"``, ``"rare"``, ``"colour"`` or ``"target_shifted"`` (see :data:`TASKS`).
        split: ``"train"``, ``"val"`` or ``"test"``; each split has its own pictures.
        per_class: pictures per class (balanced tasks); the default depends on task and split.
        num_images: total pictures instead of ``per_class`` (needed for ``rare``, whose
            classes are unbalanced on purpose).
        seed: same seed, same pixels; a smaller split is a prefix of a larger one.
        transform: applied to each picture when it is read, e.g. ``weights.transforms()``.

    Used in every lesson.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    if per_class is not None and num_images is not None:
        raise ValueError("give per_class or num_images, not both")
    spec = TASKS[task]
    if num_images is None:
        per_class = spec.per_class[split] if per_class is None else per_class
        num_images = per_class * len(spec.classes)
    if num_images < 1:
        raise ValueError(f"a dataset needs at least one picture; got {num_images} "
                         f"(per_class={per_class}); ask for per_class >= 1")

    labels = _labels(spec, num_images)
    images = np.empty((num_images, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, label in enumerate(labels):
        rng = np.random.default_rng([seed, spec.code, SPLITS[split], i])
        if task == "colour":
            images[i] = render(spec.shapes[int(rng.integers(len(spec.shapes)))], rng, colour=spec.classes[label])
            continue
        if spec.shapes:
            shape = spec.classes[1] if label else spec.shapes[int(rng.integers(len(spec.shapes)))]
        else:
            shape = spec.classes[label]
        images[i] = render(shape, rng, shifted=spec.shifted)
    return ShapesDataset(torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64),
                         list(spec.classes), transform)


def load_image_folder(root: str | Path, transform: Transform | None = None):
    """Your own pictures: one sub-folder per class, as ``torchvision.datasets.ImageFolder`` reads them.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no class folders with pictures.
    """
    from torchvision.datasets import ImageFolder

    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} does not exist; expected a folder with one sub-folder per "
            "class, e.g. photos/cats/1.jpg and photos/dogs/2.jpg")
    try:
        return ImageFolder(str(root), transform=transform)
    except FileNotFoundError as err:  # torchvision's message names no layout; ours does
        raise FileNotFoundError(
            f"no pictures found under {str(root)!r} ({err}); expected one sub-folder per class "
            "holding .jpg/.png files, e.g. photos/cats/1.jpg and photos/dogs/2.jpg") from err


def write_image_folder(root: str | Path, task: str = "target", *, splits: dict[str, int] | None = None,
                       seed: int = 0) -> Path:
    """Writes a shape task as picture files, one folder per split and per class, as a camera would.

    ``root/train/arrow/0000.png``, ``0001.png`` and so on: the layout ``torchvision.datasets.ImageFolder``
    reads. ``splits`` maps split names to pictures per class (default: the task's own sizes).
    Existing files of the same names are overwritten; nothing else in ``root`` is touched.

    Used in lesson 08.
    """
    from PIL import Image

    root = Path(root).expanduser()
    splits = splits or dict(TASKS[task].per_class)
    for split, per_class in splits.items():
        dataset = make_shapes(task, split, per_class=per_class, seed=seed)
        written = {name: 0 for name in dataset.classes}
        for image, label in zip(dataset.images, dataset.targets.tolist()):
            name = dataset.classes[label]
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{written[name]:04d}.png")
            written[name] += 1
    return root


def load_torchvision_dataset(name: str, root: str | Path, *, train: bool = True,
                             transform: Transform | None = None):
    """A torchvision dataset (e.g. ``"CIFAR10"``) that is already on disk under ``root``.

    Never downloads: a classroom may have no network. Place the files with
    ``torchvision.datasets.<name>(root, download=True)`` on a machine that is online first.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, name, None)
    if not isinstance(cls, type) or not issubclass(cls, Dataset):
        raise ValueError(f"torchvision.datasets has no dataset {name!r}; try e.g. 'CIFAR10', 'FashionMNIST'")
    try:
        return cls(str(root), train=train, transform=transform, download=False)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{name} is not under {str(root)!r} ({err}). This course works offline: on a machine "
            f"with network run torchvision.datasets.{name}({str(root)!r}, download=True) once, then "
            "copy that folder here") from err


def make_loader(dataset: Dataset, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A ``DataLoader`` whose shuffling depends on ``seed`` alone, so runs can be repeated.

    Raises:
        ValueError: the dataset is empty.
    """
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: check the folder or the split you asked for")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers)
