"""Lesson 05: the training loop."""

from simulate import right, wrong

LESSON = "05_training_loop"
_STEP = "optimizer.zero_grad()\noutputs = model(inputs)\nloss = criterion(outputs, {y})\nloss.backward()\noptimizer.step()"
VARIANTS = [
    wrong("training_step", "no zero_grad", "outputs = model(inputs)\nloss = criterion(outputs, targets)\n"
          "loss.backward()\noptimizer.step()"),
    wrong("training_step", "no optimizer.step()", "optimizer.zero_grad()\noutputs = model(inputs)\n"
          "loss = criterion(outputs, targets)\nloss.backward()"),
    wrong("training_step", "the criterion ignored for the usual loss", "optimizer.zero_grad()\noutputs = model(inputs)\n"
          "loss = nn.functional.cross_entropy(outputs, targets)\nloss.backward()\noptimizer.step()"),
    right("training_step", "model.zero_grad and set_to_none", "model.zero_grad(set_to_none=True)\noutputs = model(inputs)\n"
          "loss = criterion(outputs, targets)\nloss.backward()\noptimizer.step()"),

    wrong("train_one_epoch", "frozen BatchNorm left in train mode", "model.train()", _STEP.format(y="labels")),
    wrong("train_one_epoch", "no zero_grad", None, "outputs = model(inputs)\nloss = criterion(outputs, labels)\n"
          "loss.backward()\noptimizer.step()"),
    wrong("train_one_epoch", "eval mode instead of train mode", "model.eval()\nfrozen_batchnorm_eval(model)", None),
    right("train_one_epoch", "train(True), set_to_none", "model.train(True)\nfrozen_batchnorm_eval(model)",
          "optimizer.zero_grad(set_to_none=True)\noutputs = model(inputs)\nloss = criterion(outputs, labels)\n"
          "loss.backward()\noptimizer.step()"),

    wrong("evaluate", "train mode left on", "model.train()", None, None),
    wrong("evaluate", "gradients left on", None, "no_gradients = torch.enable_grad()", None),
    wrong("evaluate", "a fraction added instead of a count", None, None,
          "correct += (outputs.argmax(dim=1) == labels).float().mean().item()"),
    right("evaluate", "train(False), inference_mode, eq", "model.train(False)", "no_gradients = torch.inference_mode()",
          "correct += int(outputs.argmax(1).eq(labels).sum())"),
]
