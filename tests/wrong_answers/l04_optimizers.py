"""Lesson 04: optimizers."""

from simulate import right, wrong

LESSON = "04_optimizers"
VARIANTS = [
    wrong("filtered_optimizer", "every parameter", "sgd_optimizer = torch.optim.SGD(model.parameters(), lr=0.001)"),
    wrong("filtered_optimizer", "the head only", "sgd_optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.001)"),
    right("filtered_optimizer", "a list comprehension",
          "sgd_optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)"),
    right("filtered_optimizer", "layer4 and the head by name",
          "sgd_optimizer = torch.optim.SGD(list(model.layer4.parameters()) + list(model.fc.parameters()), lr=0.001)"),

    wrong("param_groups_by_hand", "the rates swapped",
          'groups = [{"params": model.fc.parameters(), "lr": 1e-4},\n          {"params": model.layer4.parameters(), "lr": 1e-3}]'),
    wrong("param_groups_by_hand", "layer4's rate left out",
          'groups = [{"params": model.fc.parameters(), "lr": 1e-3},\n          {"params": model.layer4.parameters()}]'),
    wrong("param_groups_by_hand", "everything but the head, frozen tensors included",
          'groups = [{"params": model.fc.parameters(), "lr": 1e-3},\n'
          '          {"params": [p for n, p in model.named_parameters() if not n.startswith("fc.")], "lr": 1e-4}]'),
    wrong("param_groups_by_hand", "layer4 at the Keras example's 1e-5",
          'groups = [{"params": model.fc.parameters(), "lr": 1e-3},\n          {"params": model.layer4.parameters(), "lr": 1e-5}]'),
    right("param_groups_by_hand", "the package's param_groups", "groups = param_groups(model, head_lr=1e-3, backbone_lr=1e-4)"),

    wrong("add_param_group", "layer4 added without its rate",
          'stage2_optimizer.add_param_group({"params": model.layer4.parameters()})'),
    wrong("add_param_group", "rebuilt at one rate",
          "stage2_optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-4)"),
    wrong("add_param_group", "the rate lowered instead",
          'for group in stage2_optimizer.param_groups:\n    group["lr"] = 1e-4'),
    wrong("add_param_group", "layer4 added at 1e-5, as in the lesson's demonstration",
          'stage2_optimizer.add_param_group({"params": model.layer4.parameters(), "lr": 1e-5})'),
    right("add_param_group", "rebuilt with two groups",
          'stage2_optimizer = torch.optim.Adam([{"params": model.fc.parameters(), "lr": 1e-3},\n'
          '                                     {"params": model.layer4.parameters(), "lr": 1e-4}])'),
]
