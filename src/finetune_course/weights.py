"""Pretrained weights: the course's own checkpoints (offline) and torchvision's ImageNet weights.

Three architectures, each with a course checkpoint pretrained on the shape task and its pinned
ImageNet weights: ``resnet18`` (the default), ``mobilenet_v2`` and ``resnet50``. As with
torchvision's weights enums, preprocessing travels with the weights:
``get_weights("course", arch="mobilenet_v2").transforms()`` resizes and normalises a picture
exactly as the checkpoint was trained, so no one copies mean/std constants by hand.

A checkpoint is a ``.pt`` file and a ``.json`` beside it (classes, input size, normalisation,
held-out accuracy, sha256, how it was made). Its tensors are stored in float16 where the file
then fits in 25 MiB, else (ResNet-50) the matrices in 8 bits with one scale per tensor
(``storage`` in the metadata); :func:`load_checkpoint` returns float32 either way.

Used in lessons 01, 03, 07 and 08.
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
ARCHITECTURES = ("resnet18", "mobilenet_v2", "resnet50")
# torchvision's ImageNet weights, pinned (not DEFAULT, which may point at newer weights one day)
IMAGENET = {"resnet18": "ResNet18_Weights.IMAGENET1K_V1", "mobilenet_v2": "MobileNet_V2_Weights.IMAGENET1K_V1",
            "resnet50": "ResNet50_Weights.IMAGENET1K_V1"}
WEIGHT_NAMES = ("course", "imagenet", None)


def checkpoint_path(arch: str = "resnet18") -> Path:
    """Where the course checkpoint of an architecture ships."""
    return CHECKPOINT_DIR / f"{check_arch(arch)}_shapes_v1.pt"


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; the course has {', '.join(ARCHITECTURES)}")
    return arch


COURSE_CHECKPOINT = checkpoint_path("resnet18")


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
        arch: the torchvision architecture they are for.
    """

    name: str
    meta: dict[str, Any] = field(repr=False)
    arch: str = "resnet18"

    def transforms(self) -> nn.Module:
        """The preprocessing these weights expect."""
        if self.name == "imagenet":
            return _imagenet_enum(self.arch).transforms()
        return ImageTransform(crop_size=self.meta["input_size"], resize_size=self.meta["resize_size"],
                              mean=tuple(self.meta["mean"]), std=tuple(self.meta["std"]))

    @property
    def categories(self) -> list[str]:
        return list(self.meta["categories"])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Loads the tensors, verified, without downloading anything."""
        if self.name == "imagenet":
            return _imagenet_state_dict(self.arch)
        return load_checkpoint(checkpoint_path(self.arch))[0]


def _imagenet_enum(arch: str = "resnet18"):
    from torchvision.models import get_weight

    return get_weight(IMAGENET[check_arch(arch)])


def imagenet_weights_path(arch: str = "resnet18") -> Path:
    """Where torchvision looks for (and would download) an architecture's ImageNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_imagenet_enum(arch).url)


def _imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    path = imagenet_weights_path(arch)
    if not path.is_file():
        url = _imagenet_enum(arch).url
        raise WeightsNotAvailable(
            f"ImageNet weights are not on this machine (looked for {path}) and this course never "
            f"downloads. On a machine with network, download {url} and copy the file to {path} "
            "(TORCH_HOME decides the folder), or use weights='course', the course's own "
            "checkpoint, which needs no network.")
    # check_hash only applies to downloads; torchvision loads a present file as it is.
    return _imagenet_enum(arch).get_state_dict(progress=False, check_hash=True)


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
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a file whose checksum matches but cannot be read
        raise CheckpointError(f"checkpoint {path} could not be read ({err})") from err
    return unpack(stored), meta


INT8 = "int8 matrices, one float32 scale per tensor; other floating tensors float16"


def pack(state: dict[str, torch.Tensor], storage: str = "float16") -> dict:
    """A state dict as stored: float16, or (``INT8``) 8-bit matrices with per-tensor scales."""
    if storage == "float16":
        return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    if storage != INT8:
        raise ValueError(f"unknown storage {storage!r}; expected 'float16' or {INT8!r}")
    tensors, scales = {}, {}
    for name, value in state.items():
        if value.is_floating_point() and value.ndim >= 2:
            scale = value.abs().max().float().clamp(min=1e-12) / 127
            tensors[name] = torch.round(value.float() / scale).to(torch.int8)
            scales[name] = scale
        else:
            tensors[name] = value.half() if value.is_floating_point() else value
    return {"storage": INT8, "tensors": tensors, "scales": scales}


def unpack(stored: dict) -> dict[str, torch.Tensor]:
    """The float32 state dict of a stored checkpoint (either storage)."""
    if stored.get("storage") == INT8:
        scales = stored["scales"]
        return {k: v.float() * scales[k] if k in scales else v.float() if v.is_floating_point() else v
                for k, v in stored["tensors"].items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}


@functools.cache
def _course_metadata(arch: str) -> dict[str, Any]:
    return read_metadata(checkpoint_path(arch))


def get_weights(name: str | None, *, arch: str = "resnet18") -> Weights | None:
    """Looks weights up by name: ``"course"``, ``"imagenet"`` (alias ``"IMAGENET1K_V1"``), or None.

    Args:
        arch: ``"resnet18"``, ``"mobilenet_v2"`` or ``"resnet50"``.

    Raises:
        ValueError: no weights of that name or architecture.
    """
    check_arch(arch)
    if name is None or name == "none":
        return None
    if name == "course":
        return Weights("course", _course_metadata(arch), arch)
    if name in ("imagenet", "IMAGENET1K_V1"):
        enum = _imagenet_enum(arch)
        preset = enum.transforms()
        meta = dict(enum.meta, input_size=preset.crop_size[0], resize_size=preset.resize_size[0],
                    mean=list(preset.mean), std=list(preset.std), url=enum.url)
        return Weights("imagenet", meta, arch)
    raise ValueError(f"unknown weights {name!r}; expected one of 'course' (offline, the default), "
                     "'imagenet' (torchvision's IMAGENET1K_V1, needs the file in TORCH_HOME) or None")
