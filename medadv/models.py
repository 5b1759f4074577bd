"""Classifiers on timm, with the input normalisation inside the model so that every attack works in [0, 1] pixels."""
from __future__ import annotations

from dataclasses import dataclass

import math

import timm
import torch
from torch import nn
from timm.models import adapt_input_conv

from medadv.vocab import IMAGENET, INITS, RANDOM
from medadv.weights import imagenet_weights

RANDOM_INITS = ("he", "timm")  # what a random initialisation draws (``create_model``'s ``random_init``)
TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


@dataclass(frozen=True)
class ModelInfo:
    arch: str
    init: str
    num_outputs: int
    in_chans: int
    multilabel: bool
    weights_source: str  # provenance of the initial weights ("random" or where the ImageNet weights came from)


class Classifier(nn.Module):
    """timm backbone behind a fixed per-channel normalisation: inputs are images in [0, 1], outputs are logits."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], info: ModelInfo) -> None:
        super().__init__()
        self.net = net
        self.info = info
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def check_arch(arch: str) -> None:
    if arch not in timm.list_models():
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:8]
        raise ValueError(f"unknown architecture {arch!r}: not a timm model name (similar: {', '.join(close) or 'none'})")


def create_model(
    arch: str,
    init: str = IMAGENET,
    num_outputs: int = 2,
    *,
    in_chans: int = 3,
    multilabel: bool = False,
    weights_file: str | None = None,
    seed: int | None = None,
    random_init: str = "timm",
) -> Classifier:
    """A timm ``arch`` with ImageNet (``init="imagenet"``) or random weights and a fresh head.

    Random weights (``init="random"``) are timm's own initialisation (``random_init="timm"``; Inception-v3's is a
    normal of std 0.1 for every convolution whatever its fan-in, DenseNet-121's Kaiming normal), or He's (``"he"``, the
    paper's: ``he_init``). ImageNet-initialised models do not depend on it.

    ``num_outputs`` logits: one per class for softmax tasks (binary tasks use 2, as the paper), one per label for
    multi-label tasks (sigmoid; the paper's 15 chest X-ray outputs). One-channel inputs adapt the pretrained first
    convolution the way timm does (summing the RGB filters). The new head is initialised small (normal, std 0.01, zero
    bias): timm's default head init starts fine-tuning at a large loss and costs pre-trained models accuracy
    (measured: AUC 0.72 instead of 0.85 on the generated pathology set).
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    if random_init not in RANDOM_INITS:
        raise ValueError(f"unknown random_init {random_init!r}; allowed: {', '.join(RANDOM_INITS)}")
    check_arch(arch)
    if seed is not None:
        torch.manual_seed(seed)
    net = timm.create_model(arch, pretrained=False, num_classes=num_outputs, in_chans=in_chans)
    cfg = net.pretrained_cfg
    source = RANDOM
    if init == IMAGENET:
        weights = imagenet_weights(arch, weights_file)
        state = dict(weights.state_dict)
        first_conv = cfg["first_conv"]
        if in_chans != 3:
            key = f"{first_conv}.weight"
            state[key] = adapt_input_conv(in_chans, state[key])
        head = cfg["classifier"]
        state = {k: v for k, v in state.items() if not k.startswith(f"{head}.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(f"{head}.") for k in missing):
            raise RuntimeError(f"ImageNet weights of {arch} did not fit: missing {missing}, unexpected {unexpected}")
        source = weights.source
    elif random_init == "he":
        he_init(net)
    classifier = net.get_classifier()
    if isinstance(classifier, nn.Linear):
        nn.init.normal_(classifier.weight, std=0.01)
        nn.init.zeros_(classifier.bias)
    mean, std = cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225))
    if in_chans != 3:  # grey images: the mean of the RGB statistics
        mean, std = (sum(mean) / 3,) * in_chans, (sum(std) / 3,) * in_chans
    info = ModelInfo(arch, init, num_outputs, in_chans, multilabel, source)
    return Classifier(net, tuple(mean), tuple(std), info)


def he_init(net: nn.Module) -> None:
    """He initialisation as Keras's ``he_normal``, which the paper's models used: every convolution and linear
    weight from a normal of std sqrt(2 / fan_in) truncated at two of its standard deviations (drawn with the std
    scaled up by 1 / 0.8796, as Keras does, so the kept values have std sqrt(2 / fan_in)); biases 0; normalisation
    layers at weight 1, bias 0. The classifier head is then re-initialised small by ``create_model``."""
    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = module.weight[0].numel()  # input channels (per group) × kernel size
            _truncated_normal_(module.weight, math.sqrt(2.0 / fan_in) / TRUNCATED_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            if getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)


@torch.no_grad()
def _truncated_normal_(weight: torch.Tensor, std: float) -> None:
    """A normal of ``std`` truncated at two stds, values beyond redrawn (torch's trunc_normal_ is 10x slower on CPU:
    Inception-v3 took 30 s)."""
    flat = weight.view(-1)
    flat.normal_(0.0, std)
    outside = torch.nonzero(flat.abs() > 2 * std).squeeze(1)
    while outside.numel():
        redrawn = torch.randn(outside.numel(), dtype=flat.dtype, device=flat.device) * std
        flat[outside] = redrawn
        outside = outside[redrawn.abs() > 2 * std]


def imagenet_classifier(arch: str, weights_file: str | None = None) -> Classifier:
    """The 1000-class ImageNet model itself (for checking that the weights are genuine)."""
    net = timm.create_model(arch, pretrained=False)
    weights = imagenet_weights(arch, weights_file)
    net.load_state_dict(weights.state_dict)
    cfg = net.pretrained_cfg
    info = ModelInfo(arch, IMAGENET, 1000, 3, False, weights.source)
    return Classifier(net, tuple(cfg["mean"]), tuple(cfg["std"]), info)
