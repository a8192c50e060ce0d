"""Lesson 07: staged fine-tuning."""

from simulate import right, wrong

LESSON = "07_staged_finetuning"
VARIANTS = [
    wrong("setup_stage1", "replaced, then everything frozen",
          "model.fc = nn.Linear(model.fc.in_features, num_classes)\nmodel.requires_grad_(False)"),
    wrong("setup_stage1", "512 typed in", "model.requires_grad_(False)\nmodel.fc = nn.Linear(512, num_classes)"),
    wrong("setup_stage1", "the old head unfrozen instead of replaced", "model.requires_grad_(False)\n"
          "model.fc.requires_grad_(True)"),
    right("setup_stage1", "the package's helpers", "freeze_all(model)\nreplace_head(model, num_classes)"),

    wrong("unfreeze_last_block", "all of layer4, BatchNorm too",
          'if "layer4" in name:\n    param.requires_grad = True'),
    wrong("unfreeze_last_block", "conv but not the downsample convolution",
          'if "layer4" in name and "conv" in name:\n    param.requires_grad = True'),
    wrong("unfreeze_last_block", "the five names typed in",
          'if name in {"layer4.0.conv1.weight", "layer4.0.conv2.weight", "layer4.0.downsample.0.weight",\n'
          '            "layer4.1.conv1.weight", "layer4.1.conv2.weight"}:\n    param.requires_grad = True'),
    right("unfreeze_last_block", "4-D weights are the convolutions", 'if name.startswith("layer4.") and param.ndim == 4:\n'
          "    param.requires_grad = True"),

    wrong("stage2_optimizer", "frozen tensors in the backbone group",
          'backbone = [param for name, param in model.named_parameters() if not name.startswith("fc.")]\n'
          'return torch.optim.Adam([{"params": head, "lr": head_lr}, {"params": backbone, "lr": backbone_lr}])'),
    wrong("stage2_optimizer", "the rates swapped",
          'backbone = [param for name, param in model.named_parameters() if param.requires_grad and not name.startswith("fc.")]\n'
          'return torch.optim.Adam([{"params": head, "lr": backbone_lr}, {"params": backbone, "lr": head_lr}])'),
    wrong("stage2_optimizer", "the example's rates typed in",
          'backbone = [param for name, param in model.named_parameters() if param.requires_grad and not name.startswith("fc.")]\n'
          'return torch.optim.Adam([{"params": head, "lr": 1e-3}, {"params": backbone, "lr": 1e-4}])'),
    right("stage2_optimizer", "the package's param_groups",
          "return torch.optim.Adam(param_groups(model, head_lr=head_lr, backbone_lr=backbone_lr, verbose=False))"),

    wrong("mobilenet_stage1", "a softmax after the new head",
          "mobilenet.features.requires_grad_(False)\nmobilenet.classifier[1] = nn.Sequential(nn.Linear(1280, 5), nn.Softmax(dim=1))"),
    wrong("mobilenet_stage1", "the head frozen too",
          "mobilenet.classifier[1] = nn.Linear(1280, 5)\nmobilenet.requires_grad_(False)"),
    wrong("mobilenet_stage1", "the Dropout replaced", "mobilenet.features.requires_grad_(False)\n"
          "mobilenet.classifier[0] = nn.Linear(1280, 5)"),
    right("mobilenet_stage1", "the package's helpers", "freeze_all(mobilenet)\nreplace_head(mobilenet, 5)"),

    wrong("mobilenet_stage2", "BatchNorm unfrozen too, as in Keras",
          "mobilenet.features[-num_blocks:].requires_grad_(True)\n"
          "return torch.optim.Adam([p for p in mobilenet.parameters() if p.requires_grad], lr=lr)"),
    wrong("mobilenet_stage2", "the first blocks instead of the last",
          "for module in mobilenet.features[:num_blocks].modules():\n    if isinstance(module, nn.Conv2d):\n"
          "        module.requires_grad_(True)\n"
          "return torch.optim.Adam([p for p in mobilenet.parameters() if p.requires_grad], lr=lr)"),
    wrong("mobilenet_stage2", "an optimizer over every parameter",
          "for module in mobilenet.features[-num_blocks:].modules():\n    if isinstance(module, nn.Conv2d):\n"
          "        module.requires_grad_(True)\nreturn torch.optim.Adam(mobilenet.parameters(), lr=lr)"),
    wrong("mobilenet_stage2", "only the last child unfrozen, whatever num_blocks says",
          "for module in mobilenet.features[-1].modules():\n    if isinstance(module, nn.Conv2d):\n"
          "        module.requires_grad_(True)\n"
          "return torch.optim.Adam([p for p in mobilenet.parameters() if p.requires_grad], lr=lr)"),
    right("mobilenet_stage2", "4-D weights of the last blocks are their convolutions",
          "for param in mobilenet.features[-num_blocks:].parameters():\n    if param.ndim == 4:\n"
          "        param.requires_grad = True\n"
          "return torch.optim.Adam(filter(lambda p: p.requires_grad, mobilenet.parameters()), lr=lr)"),
    right("mobilenet_stage2", "unfreeze the blocks, then refreeze their BatchNorm",
          "mobilenet.features[-num_blocks:].requires_grad_(True)\n"
          "for module in mobilenet.features.modules():\n    if isinstance(module, nn.BatchNorm2d):\n"
          "        module.requires_grad_(False)\n"
          "return torch.optim.Adam(filter(lambda p: p.requires_grad, mobilenet.parameters()), lr=lr)"),
]
