"""The training loop learns, evaluates without side effects, and cached features give the same model."""

import copy
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchvision.models import resnet18

from finetune_course.data import make_loader, make_shapes
from finetune_course.models import freeze_all, param_groups, replace_head, unfreeze
from finetune_course.train import (History, default_cut, evaluate, extract_features, fit, fit_cached, model_device,
                                   pick_device, predict, seed_everything, split_model, train_one_epoch)


def separable(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 4, generator=g)
    labels = (inputs[:, 0] + inputs[:, 1] > 0).long()
    return TensorDataset(inputs, labels)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device().type == (expected or "cpu") == pick_device("auto").type
    if torch.cuda.is_available():
        assert pick_device("cuda").type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            pick_device("cuda")


def test_seed_everything_repeats_initialisation():
    seed_everything(7)
    a = nn.Linear(4, 3).weight.clone()
    seed_everything(7)
    assert torch.equal(a, nn.Linear(4, 3).weight)


def test_train_one_epoch_lowers_the_loss():
    seed_everything(0)
    model = nn.Linear(4, 2)
    loader = make_loader(separable(), batch_size=16, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    criterion = nn.CrossEntropyLoss()
    losses = [train_one_epoch(model, loader, criterion, optimizer, progress=False)[0] for _ in range(5)]
    assert losses[-1] < 0.5 * losses[0]
    assert model.training


def test_train_one_epoch_sees_the_batches_a_plain_loop_sees():
    seen = []

    class Recorder(nn.Linear):
        def forward(self, inputs):
            seen.append(inputs.clone())
            return super().forward(inputs)

    model = Recorder(4, 2)
    for progress in (True, False):
        seen.clear()
        train_one_epoch(model, make_loader(separable(), batch_size=16, shuffle=True, seed=5), nn.CrossEntropyLoss(),
                        torch.optim.SGD(model.parameters(), lr=0.0), progress=progress)
        plain = [inputs for inputs, _ in make_loader(separable(), batch_size=16, shuffle=True, seed=5)]
        assert len(seen) == len(plain) and all(torch.equal(a, b) for a, b in zip(seen, plain))


def test_progress_bars_show_unless_turned_off_by_argument_or_tqdm_disable(capsys):
    def run(progress):
        model = nn.Linear(4, 2)
        fit(model, make_loader(separable(), batch_size=16), make_loader(separable(), batch_size=16), num_epochs=1,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), device="cpu", progress=progress)
        return capsys.readouterr().err

    assert "epochs" in run(True) and run(False) == ""
    # tqdm reads TQDM_DISABLE when it is imported: a fresh interpreter
    code = ("import torch; from torch import nn; from finetune_course.train import fit; "
            "from finetune_course.data import make_loader; from torch.utils.data import TensorDataset; "
            "data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,))); model = nn.Linear(4, 2); "
            "fit(model, make_loader(data, batch_size=16), num_epochs=1, device='cpu', "
            "optimizer=torch.optim.SGD(model.parameters(), lr=0.1))")
    for value, shown in (("1", False), ("", True)):
        err = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TQDM_DISABLE": value},
                             capture_output=True, text=True, check=True).stderr
        assert ("epochs" in err) == shown, err


def test_train_one_epoch_steps_a_batch_scheduler():
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    train_one_epoch(model, make_loader(separable(), batch_size=16), nn.CrossEntropyLoss(), optimizer,
                    scheduler=scheduler, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5 ** 4)  # 64 samples / 16 = 4 steps


def test_label_beyond_the_head_says_replace_the_head():
    model = nn.Linear(4, 2)
    dataset = TensorDataset(torch.randn(4, 4), torch.tensor([0, 1, 2, 4]))
    with pytest.raises(ValueError, match="label is 4 but the model has 2 outputs.*replace_head"):
        train_one_epoch(model, make_loader(dataset), nn.CrossEntropyLoss(),
                        torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match="label is 4"):
        evaluate(model, make_loader(dataset))


def test_evaluate_matches_a_hand_computation_and_changes_nothing():
    seed_everything(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    model.train()
    before = copy.deepcopy(model.state_dict())
    loader = make_loader(separable(), batch_size=10)
    loss, acc = evaluate(model, loader)
    outputs, labels = predict(model, loader)
    assert not outputs.requires_grad and not model.training
    assert acc == pytest.approx((outputs.argmax(1) == labels).float().mean().item())
    assert loss == pytest.approx(nn.functional.cross_entropy(outputs, labels).item(), rel=1e-6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # ordinary tensors, not inference tensors: a lesson may use them with autograd afterwards
    nn.functional.cross_entropy(outputs.requires_grad_(), labels).backward()
    assert outputs.grad is not None


def test_fit_records_a_history_and_steps_an_epoch_scheduler():
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    loader = make_loader(separable(), batch_size=16)
    history = fit(model, loader, loader, optimizer=optimizer, num_epochs=3, scheduler=scheduler, progress=False)
    assert isinstance(history, History) and history.num_epochs == 3
    assert len(history.val_acc) == len(history.val_loss) == len(history.seconds) == 3
    assert history.seconds == sorted(history.seconds) and history.val_acc[-1] > 0.9
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert fit(model, loader, optimizer=optimizer, num_epochs=1, progress=False).val_acc == []
    with pytest.raises(ValueError, match="num_epochs"):
        fit(model, loader, optimizer=optimizer, num_epochs=0)


def test_histories_add_up_one_after_the_other():
    first = History([1.0], [0.5], [1.1], [0.4], [2.0])
    both = first + History([0.5, 0.4], [0.7, 0.8], [0.9, 0.8], [0.6, 0.7], [1.0, 3.0])
    assert both.num_epochs == 3 and both.val_acc == [0.4, 0.6, 0.7] and both.seconds == [2.0, 3.0, 5.0]
    assert first.num_epochs == 1, "adding does not change the first history"


def test_split_model_reassembles_the_model():
    model = resnet18(weights=None, num_classes=4).eval()
    inputs = torch.randn(2, 3, 64, 64)
    for cut in ("layer3", "avgpool", "maxpool"):
        body, tail = split_model(model, cut)
        torch.testing.assert_close(tail(body(inputs)), model(inputs))
        assert tail[-1] is model.fc
    with pytest.raises(ValueError, match="no child 'layer5'"):
        split_model(model, "layer5")
    with pytest.raises(ValueError, match="nothing comes after 'fc'"):
        split_model(model, "fc")


def test_extract_features_keeps_order_and_labels():
    model = resnet18(weights=None, num_classes=4)
    body, _ = split_model(model, "avgpool")
    data = TensorDataset(torch.randn(6, 3, 32, 32), torch.arange(6))
    features = extract_features(body, make_loader(data, batch_size=4))
    assert features.tensors[0].shape == (6, 512, 1, 1) and torch.equal(features.tensors[1], torch.arange(6))
    torch.testing.assert_close(features.tensors[0][5], body.eval()(data.tensors[0][5:6])[0])


def _pair(unfreeze_pattern=None):
    seed_everything(0)
    model = resnet18(weights=None, num_classes=12)
    freeze_all(model, verbose=False)
    if unfreeze_pattern:
        unfreeze(model, unfreeze_pattern, verbose=False)
    replace_head(model, 5, verbose=False)
    return model, copy.deepcopy(model)


def _loaders():
    data = make_shapes("target", "train", per_class=4, transform=lambda x: x.float() / 255 - 0.5)
    return (make_loader(data, batch_size=6, shuffle=True, seed=3),
            make_loader(make_shapes("target", "val", per_class=2, transform=lambda x: x.float() / 255 - 0.5)))


def test_fit_cached_gives_the_same_head_as_the_plain_loop():
    naive, cached = _pair()
    train_loader, val_loader = _loaders()
    h1 = fit(naive, train_loader, val_loader, num_epochs=3, progress=False,
             optimizer=torch.optim.Adam(param_groups(naive, head_lr=0.01, verbose=False)))
    train_loader, val_loader = _loaders()
    h2 = fit_cached(cached, train_loader, val_loader, num_epochs=3, progress=False,
                    optimizer=torch.optim.Adam(param_groups(cached, head_lr=0.01, verbose=False)))
    torch.testing.assert_close(cached.fc.weight, naive.fc.weight, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(cached.fc.bias, naive.fc.bias, atol=1e-5, rtol=1e-4)
    assert h1.train_loss == pytest.approx(h2.train_loss, rel=1e-4)
    assert h1.val_acc == pytest.approx(h2.val_acc)
    assert not torch.equal(cached.fc.weight, _pair()[0].fc.weight), "the head trained"


def test_fit_cached_at_layer3_trains_layer4_like_the_plain_loop():
    naive, cached = _pair("layer4")
    train_loader, val_loader = _loaders()
    fit(naive, train_loader, val_loader, num_epochs=2, progress=False,
        optimizer=torch.optim.Adam(param_groups(naive, head_lr=1e-3, backbone_lr=1e-4, verbose=False)))
    train_loader, val_loader = _loaders()
    fit_cached(cached, train_loader, val_loader, num_epochs=2, cut="layer3", progress=False,
               optimizer=torch.optim.Adam(param_groups(cached, head_lr=1e-3, backbone_lr=1e-4, verbose=False)))
    for name, param in naive.state_dict().items():
        torch.testing.assert_close(cached.state_dict()[name], param, atol=1e-4, rtol=1e-3, msg=name)
    untouched = _pair()[0]
    assert torch.equal(cached.layer3[0].conv1.weight, untouched.layer3[0].conv1.weight)
    assert not torch.equal(cached.layer4[0].conv1.weight, untouched.layer4[0].conv1.weight)


def test_fit_cached_refuses_a_trainable_cached_part():
    model, _ = _pair("layer3")
    train_loader, _ = _loaders()
    with pytest.raises(ValueError, match="must be frozen.*layer3.0.conv1.weight"):
        fit_cached(model, train_loader, optimizer=torch.optim.SGD(model.fc.parameters(), lr=0.1), num_epochs=1)


class _Tracked(torch.Tensor):
    """A batch tensor that records where the code under test sends it, and stays on the CPU."""

    sent_to: list[str] = []

    def to(self, device, *args, **kwargs):
        _Tracked.sent_to.append(torch.device(device).type)
        return self.as_subclass(torch.Tensor)


class _OnMeta(nn.Module):
    """A stand-in model whose weights live on the "meta" device; it computes on the CPU."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2, 3, device="meta"))
        self.head = nn.Linear(3, 2)

    def forward(self, inputs):
        return self.head(inputs)


def test_functions_that_run_a_model_use_its_device_unless_told():
    """On a GPU, `fit(model, ...)` moves the model to CUDA; evaluate/predict afterwards must follow it."""
    batches = [(torch.randn(3, 3).as_subclass(_Tracked), torch.tensor([0, 1, 0]).as_subclass(_Tracked))] * 2
    model = _OnMeta()
    assert model_device(model) == torch.device("meta") and model_device(nn.ReLU()) == torch.device("cpu")
    _Tracked.sent_to.clear()
    predict(model, batches)
    evaluate(model, batches)
    train_one_epoch(model, batches, nn.CrossEntropyLoss(), torch.optim.SGD(model.head.parameters(), lr=0.1),
                    progress=False)
    body = nn.Sequential(_OnMeta())
    body.to = lambda device: body  # extract_features moves the body to the device: keep it computing on the CPU
    extract_features(body, batches)
    assert _Tracked.sent_to and set(_Tracked.sent_to) == {"meta"}, _Tracked.sent_to
    _Tracked.sent_to.clear()
    predict(model, batches, device="cpu")
    train_one_epoch(model, batches, nn.CrossEntropyLoss(), torch.optim.SGD(model.head.parameters(), lr=0.1),
                    device="cpu", progress=False)
    assert _Tracked.sent_to and set(_Tracked.sent_to) == {"cpu"}, _Tracked.sent_to


def test_split_model_pools_where_mobilenet_v2_pools_in_its_forward():
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(weights=None, num_classes=5).eval()
    body, tail = split_model(model, "features")
    inputs = torch.randn(2, 3, 64, 64)
    assert torch.allclose(tail(body(inputs)), model(inputs), atol=1e-6)


def test_fit_cached_caches_up_to_the_child_before_the_head_unless_told():
    from torchvision.models import mobilenet_v2, resnet50, vgg11

    assert default_cut(resnet18(weights=None)) == default_cut(resnet50(weights=None)) == "avgpool"
    assert default_cut(mobilenet_v2(weights=None)) == "features" and default_cut(vgg11(weights=None)) == "avgpool"
    with pytest.raises(TypeError, match="has no head"):
        default_cut(nn.Sequential(nn.Linear(4, 2)))


def test_fit_cached_names_a_layer_in_its_progress_bar_only_where_it_was_given_one(capsys):
    """Lesson 01 runs fit_cached before any layer has a name: its bar says what happens, not "avgpool"."""
    seed_everything(0)
    data = TensorDataset(torch.randn(8, 3, 32, 32), torch.randint(0, 2, (8,)))

    def bar(**cut):
        model = resnet18(weights=None)
        freeze_all(model, verbose=False)
        replace_head(model, 2, verbose=False)
        fit_cached(model, make_loader(data, batch_size=4), num_epochs=1, device="cpu", progress=True,
                   optimizer=torch.optim.SGD(param_groups(model, head_lr=0.1, verbose=False)), **cut)
        return capsys.readouterr().err

    default = bar()
    assert "epochs (head only, on cached features)" in default and "avgpool" not in default, default
    assert "epochs (cached up to layer3)" in bar(cut="layer3")


def test_fit_calls_on_epoch_after_each_epoch_with_the_history_so_far():
    seen = []
    model = nn.Linear(4, 2)
    loader = make_loader(separable(), batch_size=16, shuffle=True)
    fit(model, loader, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=3, progress=False,
        on_epoch=lambda history: seen.append(list(history.val_acc)))
    assert [len(s) for s in seen] == [1, 2, 3] and seen[-1] == seen[2]
