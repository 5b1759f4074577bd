"""Adversarial attacks in [0, 1] pixel space, and the paper's shuffled-perturbation control.

Every attack is a pure function ``(model, x, y, *, eps, ...) -> x_adv`` over a model in eval mode that takes [0, 1]
NCHW inputs (normalisation lives inside the model). ``eps`` and step sizes are on that [0, 1] scale; the paper's
code used [-1, 1] images, so its values are twice ours (:func:`paper_to_unit_scale`). Gradients are taken with
``torch.autograd.grad`` w.r.t. the input only, so model parameters never accumulate ``.grad``.

The default loss is the one the models were trained with: cross-entropy for int64 class-index targets, and
sigmoid binary cross-entropy averaged over the outputs for float multi-hot targets (the paper's chest X-ray models).
It is summed over the batch, so an image's gradient does not depend on the batch it was crafted in (and low-precision
gradients do not underflow by 1/N); the attacks use only its sign or a normalised form, so the scale is irrelevant.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from medadv.device import amp_dtype, autocast

LossFn = Callable[[Tensor, Tensor], Tensor]

#: The paper's PGD (iterative FGSM): 20 steps of 0.01 on its [-1, 1] scale, no random start, projection every step.
PAPER_PGD: dict[str, Any] = dict(steps=20, alpha=0.005, random_start=False)
#: L∞ attacks work on the grid x + k·eps/GRID_LEVELS (|k| <= GRID_LEVELS), the one ``medadv.perturbations`` stores in
#: one byte, so a stored perturbation is the crafted one exactly (scores from the store equal scores while crafting):
#: random starts are drawn on it (:func:`grid_uniform`), steps alpha = eps/k move along it, and the image range [0, 1]
#: is enforced at the last grid point inside it (:func:`grid_bounds`), which lies less than eps/GRID_LEVELS from 0 or 1
#: (eps 0.04: 3.3e-4, a twelfth of an 8-bit grey level). Plain clipping at 0 or 1 would leave −x or 1 − x, off the grid.
GRID_LEVELS = 120


def paper_to_unit_scale(eps_paper: float) -> float:
    """An epsilon (or step) of the paper's [-1, 1] image scale on our [0, 1] scale: half of it."""
    return eps_paper / 2


# ---------------------------------------------------------------------------------------------------------- losses


def _ce(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits.float(), y, reduction="sum")


def _bce(logits: Tensor, y: Tensor) -> Tensor:
    if logits.shape != y.shape:
        raise ValueError(
            f"multi-label targets have shape {tuple(y.shape)} but the model's logits {tuple(logits.shape)}; "
            "pass float multi-hot targets with one column per model output"
        )
    return F.binary_cross_entropy_with_logits(logits.float(), y.to(torch.float32), reduction="none").mean(1).sum()


def default_loss(y: Tensor) -> LossFn:
    """CE for int class indices (N,), BCE-with-logits (mean over outputs, sum over images) for float (N, L)."""
    if not y.is_floating_point() and y.ndim == 1:
        return _ce
    if y.is_floating_point() and y.ndim == 2:
        return _bce
    raise ValueError(
        f"targets of dtype {y.dtype} and shape {tuple(y.shape)} fit no default loss: pass int64 class indices (N,) "
        "or float multi-hot labels (N, L), or a callable loss(logits, y) -> scalar"
    )


# ---------------------------------------------------------------------------------------------------------- checks


def _check(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Validate once per call (one host sync for the range check, none inside the step loop); return x detached."""
    if model.training:
        raise ValueError("the model is in training mode (batch-norm statistics would change): call model.eval() first")
    if torch.is_inference_mode_enabled():
        raise ValueError("attacks need autograd: call them outside torch.inference_mode()")
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float N×C×H×W tensor in [0, 1], got {x.dtype} of shape {tuple(x.shape)}")
    if len(y) != len(x):
        raise ValueError(f"x has {len(x)} images but y {len(y)} targets")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0 (on the [0, 1] scale), got {eps}")
    lo, hi = torch.aminmax(x.detach())
    if lo < 0 or hi > 1:
        raise ValueError(f"x must lie in [0, 1] (got [{float(lo):.3g}, {float(hi):.3g}]): divide uint8 images by 255")
    x = x.detach()
    return x.clone() if x.is_inference() else x


def _seed_from_global() -> int:
    return int(torch.randint(0, 2**62, (1,)))


def _input_grad(model: nn.Module, x: Tensor, y: Tensor, loss: LossFn, amp: bool,
                transform: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """d loss / d x in float32, w.r.t. the input only (the parameters' .grad stay untouched)."""
    leaf = x.detach().requires_grad_(True)  # an alias, no copy
    with torch.enable_grad():
        with autocast(x.device, amp_dtype(x.device, amp, allow_float16=False)):
            logits = model(transform(leaf) if transform is not None else leaf)
        value = loss(logits, y)
        (grad,) = torch.autograd.grad(value, leaf)
    return grad


# ---------------------------------------------------------------------------------------------------------- FGSM


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, loss: LossFn | None = None,
         targeted: bool = False, amp: bool = False) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one L∞ step of size eps, clipped to [0, 1] on the storage
    grid (:func:`grid_bounds`).

    x: N×C×H×W in [0, 1]; y: int64 (N,) class indices or float (N, L) multi-hot; returns x_adv of x's shape.
    ``targeted`` moves towards y instead of away from it.
    """
    x = _check(model, x, y, eps)
    grad = _input_grad(model, x, y, loss or default_loss(y), amp)
    return torch.add(x, grad.sign_(), alpha=-eps if targeted else eps).clamp_(*grid_bounds(x, eps))


# ---------------------------------------------------------------------------------------------------------- PGD


def gaussian_kernel(size: int, nsig: float = 3.0) -> Tensor:
    """TI's smoothing kernel (Dong et al. 2019): a size×size Gaussian over ±nsig standard deviations, summing to 1."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"ti_kernel must be a positive odd size (e.g. 5, 7, 15), got {size}")
    t = torch.linspace(-nsig, nsig, size, dtype=torch.float64)
    g = torch.exp(-0.5 * t**2)
    k = torch.outer(g, g)
    return (k / k.sum()).to(torch.float32)


def _diversity(x: Tensor, *, prob: float, resize_rate: float, gen: torch.Generator) -> Tensor:
    """DI (Xie et al. 2019), as torchattacks' DIFGSM: with probability prob, resize the batch to a random size between
    H·resize_rate and H and zero-pad it at a random offset to the larger of the two. Random draws come from a CPU
    generator: no device sync."""
    if float(torch.rand((), generator=gen)) >= prob:
        return x
    h, w = x.shape[-2:]
    sizes = sorted((h, int(h * resize_rate))), sorted((w, int(w * resize_rate)))
    (lo_h, out_h), (lo_w, out_w) = sizes
    rh = int(torch.randint(lo_h, max(out_h, lo_h + 1), (), generator=gen))
    rw = rh if h == w else int(torch.randint(lo_w, max(out_w, lo_w + 1), (), generator=gen))
    rescaled = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False)
    top = int(torch.randint(0, out_h - rh + 1, (), generator=gen))
    left = int(torch.randint(0, out_w - rw + 1, (), generator=gen))
    return F.pad(rescaled, (left, out_w - rw - left, top, out_h - rh - top), value=0.0)


def grid_bounds(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """The lowest and highest values each pixel of x may take under an L∞ attack of ``eps``: x ∓ eps, cut at the last
    point of the grid x + k·eps/GRID_LEVELS inside [0, 1] (see ``GRID_LEVELS``)."""
    step = eps / GRID_LEVELS
    if step <= 0:
        return x.clone(), x.clone()
    down = torch.floor(x / step).clamp_(max=GRID_LEVELS)
    up = torch.floor((1 - x) / step).clamp_(max=GRID_LEVELS)
    return (x - down * step).clamp_(min=0), (x + up * step).clamp_(max=1)


def grid_uniform(shape: Any, eps: float, gen: torch.Generator, device: str | torch.device = "cpu") -> Tensor:
    """A uniform draw from the L∞ ball of ``eps`` on the grid of eps/GRID_LEVELS (see ``GRID_LEVELS``: why a grid)."""
    codes = torch.randint(-GRID_LEVELS, GRID_LEVELS + 1, tuple(shape), generator=gen, device=device)
    return codes.to(torch.float32).mul_(eps / GRID_LEVELS)


def _per_image_l2(t: Tensor) -> Tensor:
    return torch.linalg.vector_norm(t.flatten(1), dim=1).view(-1, *([1] * (t.ndim - 1)))


def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, alpha: float, steps: int, norm: str = "linf",
        random_start: bool = True, targeted: bool = False, seed: int | None = None, loss: LossFn | None = None,
        momentum: float = 0.0, diversity_prob: float = 0.0, resize_rate: float = 0.9, ti_kernel: int = 0,
        amp: bool = False, channels_last: bool = True) -> Tensor:
    """Projected gradient descent (Madry et al. 2018; the paper's iterative FGSM) and its transfer-oriented family.

    Each step: gradient of the loss at x_adv (through DI's random resize+pad when ``diversity_prob`` > 0), smoothed
    by TI's Gaussian kernel when ``ti_kernel`` > 0, accumulated with momentum ``mu`` after L1-normalisation per image
    when ``momentum`` > 0 (MI-FGSM, Dong et al. 2018, as torchattacks' MIFGSM); then a step of ``alpha`` along its
    sign (``norm="linf"``) or its L2 direction (``"l2"``), projection on the eps-ball around x and clipping to [0, 1].
    All options compose (``momentum=1, diversity_prob=0.5, ti_kernel=7`` is MI-DI-TI).

    random_start: start from a uniform point of the L∞ ball (a uniform-radius point of the L2 ball), as torchattacks;
      the L∞ start is drawn on the grid of eps/``GRID_LEVELS`` (:func:`grid_uniform`).
    L∞ iterates are clipped to [0, 1] at the grid's last point inside it (:func:`grid_bounds`); torchattacks clips at 0
    and 1 themselves, so the two differ only at pixels within eps of 0 or 1, by less than eps/GRID_LEVELS.
    seed: makes random start and DI reproducible (None draws from torch's global RNG).
    channels_last: feed the model NHWC-strided inputs, the layout oneDNN (CPU) and cuDNN tensor cores (GPU) prefer;
      the values are unchanged, only the memory layout and thus the convolution kernels. Measured on 1 CPU thread
      (forward+backward, batch 32–64): tf_efficientnet_lite0 at 48–96 px 35–45% faster, resnet50 at 96 px ~10%,
      resnet10t at 64 px ~14%, resnet18 at 48 px 10% slower (``medadv bench attacks`` compares).
    amp: bfloat16 autocast on CUDA GPUs that have it (see ``medadv.device``); the gradient w.r.t. the input stays
      float32.
    Returns x_adv, detached, of x's shape. No host sync inside the step loop (unless DI is on: its CPU draws).
    """
    x = _check(model, x, y, eps)
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if steps < 0 or alpha < 0:
        raise ValueError(f"steps and alpha must be >= 0, got steps={steps}, alpha={alpha}")
    if not 0 <= diversity_prob <= 1:
        raise ValueError(f"diversity_prob is a probability in [0, 1], got {diversity_prob}")
    loss = loss or default_loss(y)
    seed = _seed_from_global() if seed is None else seed
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    transform = None
    if diversity_prob > 0:
        cpu_gen = torch.Generator().manual_seed(seed + 1)
        transform = partial(_diversity, prob=diversity_prob, resize_rate=resize_rate, gen=cpu_gen)
    kernel = None
    if ti_kernel:
        c = x.shape[1]
        kernel = gaussian_kernel(ti_kernel).to(x.device).expand(c, 1, ti_kernel, ti_kernel).contiguous()

    if norm == "linf":
        lower, upper = grid_bounds(x, eps)
    x_adv = x
    if random_start:
        gen = torch.Generator(device=x.device).manual_seed(seed)
        if norm == "linf":
            x_adv = grid_uniform(x.shape, eps, gen, x.device).add_(x).clamp_(lower, upper)
        else:
            d = torch.empty_like(x).normal_(generator=gen)
            r = torch.empty(len(x), *([1] * (x.ndim - 1)), device=x.device).uniform_(0, 1, generator=gen)
            x_adv = d.mul_(r * eps / _per_image_l2(d)).add_(x).clamp_(0, 1)

    step = -alpha if targeted else alpha
    acc = None
    for _ in range(steps):
        grad = _input_grad(model, x_adv, y, loss, amp, transform)
        if kernel is not None:
            grad = F.conv2d(grad, kernel, padding=ti_kernel // 2, groups=grad.shape[1])
        if momentum:
            grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(torch.finfo(grad.dtype).tiny)
            if acc is not None:
                grad = grad.add_(acc, alpha=momentum)
            acc = grad
        if norm == "linf":
            x_adv = torch.add(x_adv, grad.sign(), alpha=step).clamp_(lower, upper)
        else:
            # pure normalisation: torchattacks' `+ 1e-10` stalls images whose gradient norm is ~1e-10 (confident ones)
            x_adv = torch.add(x_adv, grad / _per_image_l2(grad).clamp_min_(torch.finfo(grad.dtype).tiny), alpha=step)
            delta = x_adv.sub_(x)
            delta.mul_((eps / _per_image_l2(delta)).clamp_(max=1))
            x_adv = delta.add_(x).clamp_(0, 1)
    return x_adv if x_adv is not x else x.clone()


def mi_fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, alpha: float, steps: int, decay: float = 1.0,
            loss: LossFn | None = None, **kwargs: Any) -> Tensor:
    """MI-FGSM (Dong et al. 2018): :func:`pgd` with momentum ``decay`` and no random start (torchattacks' MIFGSM)."""
    return pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, momentum=decay, random_start=False, loss=loss,
               **kwargs)


class Ensemble(nn.Module):
    """Surrogates attacked together: the mean of the members' logits (Liu et al. 2017; Dong et al. 2018)."""

    def __init__(self, models: list[nn.Module] | tuple[nn.Module, ...]):
        super().__init__()
        if not models:
            raise ValueError("an Ensemble needs at least one model")
        self.members = nn.ModuleList(models)

    def forward(self, x: Tensor) -> Tensor:
        out = self.members[0](x)
        for m in self.members[1:]:
            out = out + m(x)
        return out / len(self.members)


# ---------------------------------------------------------------------------------------------- feature disruption


class Features(nn.Module):
    """A classifier's backbone as a feature map: its normalisation, then the outputs of its feature stages (timm's
    ``forward_intermediates``, e.g. 5 stages of an EfficientNet), each flattened and divided by the square root of
    its size so every stage weighs alike; concatenated, N×D. The head is never used: the public-parts attacker has
    the ImageNet checkpoint, not the medical model fine-tuned from it."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        if not hasattr(classifier, "net") or not hasattr(classifier.net, "forward_intermediates"):
            raise ValueError("feature disruption needs a medadv Classifier over a timm model with forward_intermediates")
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        c = self.classifier
        stages = c.net.forward_intermediates((x - c.mean) / c.std, intermediates_only=True)
        return torch.cat([f.flatten(1).float() / f[0].numel() ** 0.5 for f in stages], dim=1)


def feature_loss(features: Tensor, clean: Tensor) -> Tensor:
    """The feature-disruption objective (maximised): squared distance of the perturbed images' features from the
    clean images' (``Features`` of both), summed over images as the other losses are. No labels: ``clean`` stands
    where the class targets stand in a classification loss."""
    return (features - clean).pow(2).sum()


def feature_pgd(model: nn.Module, x: Tensor, y: Tensor | None = None, *, eps: float, alpha: float, steps: int,
                seed: int | None = None, **kwargs: Any) -> Tensor:
    """PGD on the feature-disruption loss of ``model``'s backbone (a label-free attack: ``y`` is ignored). Starts from
    a seeded random point of the eps-ball: at x itself the loss is at its minimum and its gradient zero."""
    features = Features(model).eval()
    x = _check(model, x, x[:, 0, 0, 0] if y is None else y, eps)
    with torch.no_grad():
        clean = features(x)
    return pgd(features, x, clean, eps=eps, alpha=alpha, steps=steps, seed=seed, loss=feature_loss,
               **{**kwargs, "random_start": True})


def universal(model: nn.Module, images: Tensor, *, eps: float, alpha: float, epochs: int, batch_size: int,
              seed: int = 0, progress: bool = False) -> Tensor:
    """One perturbation for every image (a universal adversarial perturbation, Moosavi-Dezfooli et al. 2017), fitted
    on ``images`` (N×C×H×W in [0, 1], natural photographs in the public-parts chapter) to disrupt the features of
    ``model``'s backbone (``Features``): each batch, a sign step of ``alpha`` on the feature loss of clip(x + u),
    then projection onto the L∞ ball of ``eps``. Seeded start in the ball and batch order. Returns u, C×H×W."""
    if epochs < 1 or batch_size < 1 or not eps >= 0 or not alpha >= 0:
        raise ValueError(f"need epochs, batch_size >= 1 and eps, alpha >= 0; got {epochs}, {batch_size}, {eps}, {alpha}")
    x_all = _check(model, images, images[:, 0, 0, 0], eps)
    features = Features(model).eval()
    gen = torch.Generator().manual_seed(seed)
    u = grid_uniform(x_all.shape[1:], eps, gen).to(x_all.device)
    n = len(x_all)
    for _ in tqdm(range(epochs), desc=f"universal eps={eps:g}", disable=not progress):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            x = x_all[order[i:i + batch_size].to(x_all.device)]
            with torch.no_grad():
                clean = features(x)
            leaf = u.detach().requires_grad_(True)
            with torch.enable_grad():
                value = feature_loss(features((x + leaf).clamp(0, 1)), clean)
                (grad,) = torch.autograd.grad(value, leaf)
            u = (u + alpha * grad.sign()).clamp_(-eps, eps)
    return u.detach()


# ---------------------------------------------------------------------------------------------------------- registry

#: Defaults of the named attacks (eps always comes from the caller). The iterative ones use the paper's PGD schedule
#: (20 × 0.005, no random start); DI uses Xie et al.'s p = 0.5 with torchattacks' shrink rate 0.9; TI uses a 7×7
#: kernel (Dong et al. used 15 at 299 px; our images are 48–224 px); MI uses mu = 1.0 as Dong et al.
ATTACK_DEFAULTS: dict[str, dict[str, Any]] = {
    "fgsm": {},
    "pgd": dict(PAPER_PGD),
    "mi_fgsm": dict(steps=20, alpha=0.005, decay=1.0),
    "di_pgd": dict(PAPER_PGD, diversity_prob=0.5),
    "ti_pgd": dict(PAPER_PGD, ti_kernel=7),
    "mi_di_ti_pgd": dict(PAPER_PGD, momentum=1.0, diversity_prob=0.5, ti_kernel=7),
    "feature_pgd": dict(steps=20, alpha=0.005),  # label-free: disrupts the backbone's features (public parts)
}
_BASE = {"fgsm": fgsm, "pgd": pgd, "mi_fgsm": mi_fgsm, "di_pgd": pgd, "ti_pgd": pgd, "mi_di_ti_pgd": pgd,
         "feature_pgd": feature_pgd}
ATTACKS: dict[str, Callable[..., Tensor]] = {name: partial(_BASE[name], **ATTACK_DEFAULTS[name]) for name in _BASE}


def run_attack(name: str, model: nn.Module, x: Tensor, y: Tensor, *, eps: float, **params: Any) -> Tensor:
    """Run a named attack (see ``ATTACK_DEFAULTS``); ``params`` override its defaults."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    return ATTACKS[name](model, x, y, eps=eps, **params)


# ---------------------------------------------------------------------------------------------------------- control


def _permutation(seed: int, index: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, index]).permutation(n)


def shuffle_perturbation(delta: Tensor | np.ndarray, *, seed: int, start: int = 0,
                         per_pixel: bool = False) -> Tensor | np.ndarray:
    """Move each image's perturbation values to random positions: same values (and norms), no spatial structure.

    The authors shuffle the flattened perturbation of each image, all C·H·W values independently
    (``np.random.shuffle(noise.flatten())`` in Pathology/ and Ophthalmology/attacks_crafting.py, one image at a time;
    Radiology/improc.py ``shuffle_array`` shuffles a whole batch of 1-channel images, so values even move between
    images). We follow the per-image value shuffle by default; ``per_pixel=True`` moves each pixel's channel vector
    together instead (identical for 1-channel images).
    Image i uses the permutation seeded by (seed, start + i), so results do not depend on batching.
    delta: N×C×H×W tensor or array; returns the same type, shape and dtype.
    """
    if delta.ndim != 4:
        raise ValueError(f"delta must be N×C×H×W, got shape {tuple(delta.shape)}")
    n, c, h, w = delta.shape
    size = h * w if per_pixel else c * h * w
    flat = delta.reshape(n, c, h * w) if per_pixel else delta.reshape(n, 1, size)  # views
    out = np.empty_like(flat) if isinstance(delta, np.ndarray) else torch.empty_like(flat)
    for i in range(0, n, 64):  # chunks bound the index memory (8 bytes per value)
        perm = np.stack([_permutation(seed, start + j, size) for j in range(i, min(i + 64, n))])[:, None, :]
        chunk = flat[i:i + 64]
        if isinstance(delta, np.ndarray):
            out[i:i + 64] = np.take_along_axis(chunk, np.broadcast_to(perm, chunk.shape), axis=2)
        else:
            out[i:i + 64] = chunk.gather(2, torch.from_numpy(perm).to(delta.device).expand(chunk.shape))
    return out.reshape(delta.shape)


def shuffled(x_adv: Tensor, x: Tensor, *, seed: int, start: int = 0, per_pixel: bool = False) -> Tensor:
    """The paper's control: clip(x + the perturbation x_adv − x with its values at random positions, 0, 1).

    See :func:`shuffle_perturbation` for how values move (the authors' per-image value shuffle by default).
    """
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv {tuple(x_adv.shape)} and x {tuple(x.shape)} differ in shape")
    delta = shuffle_perturbation(x_adv - x, seed=seed, start=start, per_pixel=per_pixel)
    return (x + delta).clamp_(0, 1)


# ---------------------------------------------------------------------------------------------------------- craft


def images_to_tensor(images_uint8_nhwc: Any, device: str | torch.device, image_size: int | None = None) -> Tensor:
    """uint8 N×H×W×C images → float N×C×H×W in [0, 1] on device; converted there (4× less to transfer), resized with
    antialiased bilinear interpolation when image_size differs from the stored size."""
    arr = np.asarray(images_uint8_nhwc)
    if arr.dtype != np.uint8 or arr.ndim != 4:
        raise ValueError(f"images must be uint8 N×H×W×C, got {arr.dtype} of shape {arr.shape}")
    x = torch.from_numpy(arr).to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0, 1)
    return x.contiguous()


def _targets(labels: np.ndarray, device: str | torch.device) -> Tensor:
    labels = np.asarray(labels)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        return torch.from_numpy(labels.astype(np.int64)).to(device)
    if labels.ndim == 2:
        return torch.from_numpy(labels.astype(np.float32)).to(device)
    raise ValueError(f"labels must be int (N,) or float multi-hot (N, L), got {labels.dtype} of shape {labels.shape}")


def craft_batches(model: nn.Module, images_uint8_nhwc: Any, labels: np.ndarray, *, attack: str, eps: float,
                  batch_size: int, device: str | torch.device, image_size: int | None = None, seed: int = 0,
                  progress: bool = True, **params: Any) -> Iterator[tuple[int, Tensor]]:
    """Attack a whole image set batch by batch, yielding (first row, perturbations x_adv − x as a float32 N×C×H×W
    tensor on ``device``): the caller decides what to keep (:func:`craft` keeps all of them in float16; a study's craft
    unit quantises each batch and may score targets on it while it is on the device).

    Batch b uses seed derived from (seed, b): attacks with randomness (random start, DI) depend on batch_size,
    deterministic ones do not. ``images_uint8_nhwc`` may be a lazy reader sliced per batch.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {sorted(ATTACKS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(labels)
    if len(images_uint8_nhwc) != n:
        raise ValueError(f"{len(images_uint8_nhwc)} images but {n} labels")
    if n == 0:
        raise ValueError("no images to attack")
    takes_seed = attack != "fgsm"
    for b, i in enumerate(tqdm(range(0, n, batch_size), desc=f"{attack} eps={eps:g}", disable=not progress)):
        index = np.arange(i, min(i + batch_size, n))
        x = images_to_tensor(images_uint8_nhwc[index], device, image_size)
        y = _targets(np.asarray(labels)[index], device)
        extra = {"seed": int(np.random.SeedSequence([seed, b]).generate_state(1)[0])} if takes_seed else {}
        x_adv = run_attack(attack, model, x, y, eps=eps, **extra, **params)
        yield i, (x_adv - x).float()


def craft(model: nn.Module, images_uint8_nhwc: Any, labels: np.ndarray, *, attack: str, eps: float, batch_size: int,
          device: str | torch.device, image_size: int | None = None, seed: int = 0, progress: bool = True,
          **params: Any) -> np.ndarray:
    """Attack a whole image set batch by batch (:func:`craft_batches`); return the perturbations x_adv − x as float16
    N×C×H×W numpy.

    float16 keeps |delta| <= 0.03 to about 1.5e-5 (2^-16) and costs 2·C·H·W bytes per image (24.6 kB at 3×64×64,
    301 kB at 3×224×224); a study stores them in one byte per value (``medadv.perturbations``).
    """
    out: np.ndarray | None = None
    for i, delta in craft_batches(model, images_uint8_nhwc, labels, attack=attack, eps=eps, batch_size=batch_size,
                                  device=device, image_size=image_size, seed=seed, progress=progress, **params):
        batch = delta.to(torch.float16).cpu().numpy()
        if out is None:
            out = np.empty((len(labels), *batch.shape[1:]), np.float16)
        out[i:i + len(batch)] = batch
    assert out is not None  # craft_batches refuses an empty set
    return out


def apply_perturbation(images_uint8_nhwc: Any, delta: np.ndarray | Tensor, device: str | torch.device,
                       image_size: int | None = None) -> Tensor:
    """Rebuild x_adv = clip(x + delta, 0, 1) as a float N×C×H×W tensor on device (x converted as in :func:`craft`)."""
    x = images_to_tensor(images_uint8_nhwc, device, image_size)
    d = torch.as_tensor(delta).to(device, torch.float32)
    if d.shape != x.shape:
        raise ValueError(
            f"delta {tuple(d.shape)} does not match the images {tuple(x.shape)}: pass the image_size used by craft"
        )
    return x.add_(d).clamp_(0, 1)
