"""The course checkpoints ship, are verified, and are good; ImageNet weights load from TORCH_HOME only."""

import shutil

import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models import resnet18, resnet50

from finetune_course.data import make_loader, make_shapes
from finetune_course.models import get_head, load_model
from finetune_course.train import evaluate
from finetune_course.weights import (ARCHITECTURES, COURSE_CHECKPOINT, INT8, CheckpointError, ImageTransform,
                                     WeightsNotAvailable, checkpoint_path, get_weights, imagenet_weights_path,
                                     load_checkpoint, pack, read_metadata, sha256_of, unpack)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_course_checkpoint_ships_small_with_its_metadata(arch):
    path = checkpoint_path(arch)
    assert path.stat().st_size <= 25 * 2**20
    meta = read_metadata(path)
    assert meta["sha256"] == sha256_of(path) and meta["architecture"] == f"torchvision.models.{arch}"
    assert meta["categories"] == list(make_shapes("source", "train", per_class=1).classes)
    assert meta["input_size"] == 64 and len(meta["mean"]) == len(meta["std"]) == 3
    assert meta["source_val_acc"] >= 0.95
    # as shipped (float16, or 8 bits for ResNet-50) within one point of the float32 model it came from
    assert meta.get("source_val_acc_float32", meta["source_val_acc"]) - meta["source_val_acc"] <= 0.01
    assert meta["recipe"]["command"].startswith("finetune-course pretrain")
    assert {"torch", "torchvision", "python"} <= set(meta["versions"])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_course_checkpoint_really_recognises_its_source_task(arch):
    # Independent of the recorded figure: evaluate the shipped file on held-out source pictures.
    weights = get_weights("course", arch=arch)
    model = load_model(arch=arch, weights="course")
    assert type(model) is type(getattr(torchvision.models, arch)(weights=None)) and get_head(model).out_features == 12
    val_set = make_shapes("source", "val", per_class=25, transform=weights.transforms())
    _, acc = evaluate(model, make_loader(val_set, batch_size=100))
    assert acc >= 0.95


def test_eight_bit_storage_fits_a_resnet50_and_comes_back_within_half_a_step(tmp_path):
    torch.manual_seed(0)
    state = resnet50(weights=None, num_classes=12).state_dict()
    torch.save(pack(state, "float16"), tmp_path / "half.pt")
    torch.save(pack(state, INT8), tmp_path / "int8.pt")
    assert (tmp_path / "half.pt").stat().st_size > 25 * 2**20 >= (tmp_path / "int8.pt").stat().st_size
    back = unpack(torch.load(tmp_path / "int8.pt", weights_only=True))
    assert back.keys() == state.keys()
    for name, value in state.items():
        if value.is_floating_point() and value.ndim >= 2:
            step = value.abs().max() / 127
            assert (back[name] - value).abs().max() <= step / 2 + 1e-6, name
        elif value.is_floating_point():
            assert torch.equal(back[name], value.half().float()), name
        else:
            assert torch.equal(back[name], value), name


def test_course_weights_carry_transforms_and_classes():
    weights = get_weights("course")
    assert weights.categories[0] == "circle" and len(weights.categories) == 12
    transform = weights.transforms()
    picture = make_shapes("target", "train", per_class=1).images[0]
    out = transform(picture)
    mean, std = torch.tensor(weights.meta["mean"]), torch.tensor(weights.meta["std"])
    expected = (picture.float() / 255 - mean[:, None, None]) / std[:, None, None]
    assert out.shape == (3, 64, 64) and torch.allclose(out, expected, atol=1e-5)
    # PIL pictures of another size are resized and centre-cropped to the input size
    assert transform(Image.new("RGB", (120, 90), (10, 20, 30))).shape == (3, 64, 64)


def test_transform_handles_grayscale_pil():
    transform = ImageTransform(crop_size=32, resize_size=36, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert transform(Image.new("L", (50, 40), 128)).shape == (3, 32, 32)


def _copy_checkpoint(tmp_path):
    pt = tmp_path / COURSE_CHECKPOINT.name
    shutil.copy(COURSE_CHECKPOINT, pt)
    shutil.copy(COURSE_CHECKPOINT.with_suffix(".json"), pt.with_suffix(".json"))
    return pt


def test_tampered_checkpoint_is_refused(tmp_path):
    pt = _copy_checkpoint(tmp_path)
    state, meta = load_checkpoint(pt)
    assert meta["sha256"] == sha256_of(pt) and "fc.weight" in state
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or was modified"):
        load_checkpoint(pt)


def test_truncated_checkpoint_is_refused(tmp_path):
    pt = _copy_checkpoint(tmp_path)
    pt.write_bytes(pt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or was modified"):
        load_checkpoint(pt)


def test_missing_or_unreadable_metadata(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")
    pt = _copy_checkpoint(tmp_path)
    pt.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(pt)
    pt.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="no metadata file"):
        load_checkpoint(pt)


def test_checksum_matching_garbage_is_refused_with_checkpoint_error(tmp_path):
    pt = tmp_path / "fake.pt"
    pt.write_bytes(b"not a torch file")
    pt.with_suffix(".json").write_text('{"sha256": "%s"}' % sha256_of(pt))
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(pt)


def test_unknown_weights_name():
    with pytest.raises(ValueError, match="unknown weights 'imagenet21k'.*'course'"):
        get_weights("imagenet21k")
    assert get_weights(None) is None


@pytest.mark.parametrize("arch, file", [("resnet18", "resnet18-f37072fd.pth"),
                                        ("mobilenet_v2", "mobilenet_v2-b0353104.pth"),
                                        ("resnet50", "resnet50-0676ba61.pth")])
def test_imagenet_weights_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch, arch, file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_weights_path(arch)
    assert path == tmp_path / "hub" / "checkpoints" / file
    with pytest.raises(WeightsNotAvailable, match=f"{file}.*weights='course'"):
        load_model(arch=arch, weights="imagenet")


def test_imagenet_weights_of_every_architecture_load_from_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for arch in ("mobilenet_v2", "resnet50"):
        torch.manual_seed(1)
        reference = getattr(torchvision.models, arch)(weights=None)
        imagenet_weights_path(arch).parent.mkdir(parents=True, exist_ok=True)
        torch.save(reference.state_dict(), imagenet_weights_path(arch))
        model = load_model(arch=arch, weights="imagenet", num_classes=5)
        assert get_head(model).out_features == 5
        kept = {k: v for k, v in reference.state_dict().items() if k in dict(model.named_parameters())
                and not k.startswith(("fc.", "classifier."))}
        assert all(torch.equal(model.state_dict()[k], v) for k, v in kept.items()) and len(kept) > 50
        assert get_weights("imagenet", arch=arch).transforms()(Image.new("RGB", (300, 260))).shape == (3, 224, 224)
    with pytest.raises(ValueError, match="unknown architecture 'vgg16'"):
        load_model(arch="vgg16")


def test_imagenet_weights_load_from_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    reference = resnet18(weights=None)
    imagenet_weights_path().parent.mkdir(parents=True)
    torch.save(reference.state_dict(), imagenet_weights_path())
    model = load_model(weights="imagenet")
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert model.fc.out_features == 1000
    weights = get_weights("imagenet")
    assert len(weights.categories) == 1000 and weights.categories[0] == "tench"
    assert weights.transforms()(Image.new("RGB", (300, 260))).shape == (3, 224, 224)
    five = load_model(weights="IMAGENET1K_V1", num_classes=5)
    assert five.fc.out_features == 5 and torch.equal(five.layer4[1].bn2.weight, reference.layer4[1].bn2.weight)
