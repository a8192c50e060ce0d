"""Pretrained weights: the course's own checkpoint (offline) and torchvision's ImageNet weights.

As with torchvision's weights enums, preprocessing travels with the weights:
``get_weights("course").transforms()`` resizes and normalises a picture exactly as the
checkpoint was trained, so no one copies mean/std constants by hand.

Used in lessons 01 and 03.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
COURSE_CHECKPOINT = CHECKPOINT_DIR / "resnet18_shapes_v1.pt"
WEIGHT_NAMES = ("course", "imagenet", None)


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or not the one its metadata describes."""


class WeightsNotAvailable(FileNotFoundError):
    """The weights are not on this machine and cannot be downloaded."""


class ImageTransform(nn.Module):
    """Picture to normalised tensor: resize, centre crop, scale to [0, 1], normalise.

    Takes a PIL image or a ``uint8``/float tensor ``(3, H, W)``; the same steps as
    torchvision's ImageNet preset, with the sizes and statistics of the chosen weights.
    """

    def __init__(self, *, crop_size: int, resize_size: int, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.crop_size, self.resize_size = crop_size, resize_size
        self.mean, self.std = list(mean), list(std)

    def forward(self, img) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        if not isinstance(img, torch.Tensor):
            img = F.pil_to_tensor(img.convert("RGB"))
        if min(img.shape[-2:]) != self.resize_size:
            img = F.resize(img, [self.resize_size], antialias=True)
        if tuple(img.shape[-2:]) != (self.crop_size, self.crop_size):
            img = F.center_crop(img, [self.crop_size])
        img = F.to_dtype(img, torch.float32, scale=True)
        return F.normalize(img, mean=self.mean, std=self.std)

    def extra_repr(self) -> str:
        return (f"crop_size={self.crop_size}, resize_size={self.resize_size}, "
                f"mean={self.mean}, std={self.std}")


@dataclass(frozen=True)
class Weights:
    """A set of pretrained weights with what belongs to them (like torchvision's ``Weights``).

    Attributes:
        name: ``"course"`` or ``"imagenet"``.
        meta: ``categories`` (class names), ``input_size``, ``mean``, ``std`` and provenance.
    """

    name: str
    meta: dict[str, Any] = field(repr=False)

    def transforms(self) -> nn.Module:
        """The preprocessing these weights expect."""
        if self.name == "imagenet":
            return _imagenet_enum().transforms()
        return ImageTransform(crop_size=self.meta["input_size"], resize_size=self.meta["resize_size"],
                              mean=tuple(self.meta["mean"]), std=tuple(self.meta["std"]))

    @property
    def categories(self) -> list[str]:
        return list(self.meta["categories"])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Loads the tensors, verified, without downloading anything."""
        if self.name == "imagenet":
            return _imagenet_state_dict()
        return load_checkpoint(COURSE_CHECKPOINT)[0]


def _imagenet_enum():
    from torchvision.models import ResNet18_Weights

    # Pinned, not DEFAULT: DEFAULT may point at newer weights one day and change results.
    return ResNet18_Weights.IMAGENET1K_V1


def imagenet_weights_path() -> Path:
    """Where torchvision looks for (and would download) the ImageNet ResNet-18 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_imagenet_enum().url)


def _imagenet_state_dict() -> dict[str, torch.Tensor]:
    path = imagenet_weights_path()
    if not path.is_file():
        url = _imagenet_enum().url
        raise WeightsNotAvailable(
            f"ImageNet weights are not on this machine (looked for {path}) and this course never "
            f"downloads. On a machine with network, download {url} and copy the file to {path} "
            "(TORCH_HOME decides the folder), or use weights='course', the course's own "
            "checkpoint, which needs no network.")
    # check_hash only applies to downloads; torchvision loads a present file as it is.
    return _imagenet_enum().get_state_dict(progress=False, check_hash=True)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(checkpoint: str | Path) -> dict[str, Any]:
    """The metadata JSON that sits beside a checkpoint (``x.pt`` -> ``x.json``)."""
    meta_path = Path(checkpoint).with_suffix(".json")
    if not meta_path.is_file():
        raise CheckpointError(
            f"no metadata file {meta_path} beside checkpoint {checkpoint}; a course checkpoint is a "
            ".pt file and a .json file written together by `finetune-course pretrain`")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"metadata {meta_path} is not valid JSON ({err}); reinstall the package "
                              "or run `finetune-course pretrain` again") from err


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Loads a course checkpoint after checking it against the sha256 in its metadata.

    Returns:
        The state dict (float32) and the metadata.

    Raises:
        CheckpointError: the file is missing, corrupt, or tampered with.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; reinstall the package "
                              "(`make install`) or create one with `finetune-course pretrain`")
    meta = read_metadata(path)
    actual = sha256_of(path)
    if actual != meta.get("sha256"):
        raise CheckpointError(
            f"checkpoint {path} is corrupt or was modified: its sha256 is {actual}, its metadata "
            f"says {meta.get('sha256')}. Reinstall the package or run `finetune-course pretrain`.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a file whose checksum matches but cannot be read
        raise CheckpointError(f"checkpoint {path} could not be read ({err})") from err
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, meta


@functools.cache
def _course_metadata() -> dict[str, Any]:
    return read_metadata(COURSE_CHECKPOINT)


def get_weights(name: str | None) -> Weights | None:
    """Looks weights up by name: ``"course"``, ``"imagenet"`` (alias ``"IMAGENET1K_V1"``), or None.

    Raises:
        ValueError: no weights of that name.
    """
    if name is None or name == "none":
        return None
    if name == "course":
        return Weights("course", _course_metadata())
    if name in ("imagenet", "IMAGENET1K_V1"):
        enum = _imagenet_enum()
        meta = dict(enum.meta, input_size=224, resize_size=256, mean=[0.485, 0.456, 0.406],
                    std=[0.229, 0.224, 0.225], url=enum.url)
        return Weights("imagenet", meta)
    raise ValueError(f"unknown weights {name!r}; expected one of 'course' (offline, the default), "
                     "'imagenet' (torchvision's IMAGENET1K_V1, needs the file in TORCH_HOME) or None")
