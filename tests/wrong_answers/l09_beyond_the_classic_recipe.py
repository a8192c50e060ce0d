"""Lesson 09: beyond the classic recipe."""

from simulate import right, wrong

LESSON = "09_beyond_the_classic_recipe"
_GROUPS = ("groups = []\nfor block, depth in depth_of.items():\n"
           "    params = [param for name, param in model.named_parameters() if {keep} and block_of(name) == block]\n"
           "    if params:\n        groups.append({{\"params\": params, \"lr\": {rate}}})\nreturn groups")
VARIANTS = [
    wrong("lr_by_depth", "the decay applied upwards: the stem fastest",
          _GROUPS.format(keep="param.requires_grad", rate="lr * decay ** (5 - depth)")),
    wrong("lr_by_depth", "frozen parameters put in the groups",
          _GROUPS.format(keep="True", rate="lr * decay ** depth")),
    wrong("lr_by_depth", "decay times depth instead of a power",
          _GROUPS.format(keep="param.requires_grad", rate="lr * decay * depth if depth else lr")),
    right("lr_by_depth", "the package's helper", "return models.lr_by_depth(model, lr, decay)"),

    wrong("batchnorm_and_bias_only", "the head frozen: its weight is no bias",
          'param.requires_grad = name.endswith(".bias")'),
    wrong("batchnorm_and_bias_only", "BatchNorm statistics left to drift: lesson 02's helper switches none here",
          None, None, "models.frozen_batchnorm_eval(model)"),
    wrong("batchnorm_and_bias_only", "biases only: the BatchNorm weights stay frozen",
          None, "module.bias.requires_grad = True"),
    right("batchnorm_and_bias_only", "1-D tensors are the BatchNorm weights and the biases",
          "param.requires_grad_(param.ndim == 1 or name.startswith(head))", "module.requires_grad_(True)",
          "for module in model.modules():\n    if isinstance(module, nn.modules.batchnorm._BatchNorm):\n"
          "        module.train(False)"),

    wrong("LoRA", "B not zero-initialised: the wrapped model no longer starts equal",
          "self.base = base.requires_grad_(False)\nself.A = nn.Parameter(torch.randn(rank, fan_in) / math.sqrt(fan_in))\n"
          "self.B = nn.Parameter(torch.randn(base.weight.shape[0], rank) / math.sqrt(rank))\nself.scale = alpha / rank"),
    wrong("LoRA", "the merge forgets the scale", None, None, "merged.weight += (self.B @ self.A).view_as(merged.weight)"),
    wrong("LoRA", "A and B both zero: no gradient ever reaches either",
          "self.base = base.requires_grad_(False)\nself.A = nn.Parameter(torch.zeros(rank, fan_in))\n"
          "self.B = nn.Parameter(torch.zeros(base.weight.shape[0], rank))\nself.scale = alpha / rank"),
    wrong("LoRA", "the base left trainable",
          "self.base = base\nself.A = nn.Parameter(torch.randn(rank, fan_in) / math.sqrt(fan_in))\n"
          "self.B = nn.Parameter(torch.zeros(base.weight.shape[0], rank))\nself.scale = alpha / rank"),
    right("LoRA", "B written before A (named_parameters lists B first)",
          "self.base = base.requires_grad_(False)\nself.B = nn.Parameter(torch.zeros(base.weight.shape[0], rank))\n"
          "self.A = nn.Parameter(torch.randn(rank, fan_in) / math.sqrt(fan_in))\nself.scale = alpha / rank"),
    right("LoRA", "PEFT's initialisation, and add_ on the weight's data",
          "base.weight.requires_grad = False\nif base.bias is not None:\n    base.bias.requires_grad = False\n"
          "self.base = base\nself.A = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(rank, fan_in), a=math.sqrt(5)))\n"
          "self.B, self.scale = nn.Parameter(torch.zeros(base.out_channels if isinstance(base, nn.Conv2d) else base.out_features, rank)), alpha / rank",
          "return self.scale * torch.mm(self.B, self.A).reshape(self.base.weight.shape)",
          "merged.weight.data.add_(self.delta_weight())"),
]
