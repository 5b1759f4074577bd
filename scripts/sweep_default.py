"""Measure what the default profile's models do, to size it: clean AUC of independent copies and their transfer.

For one domain of the generated data set and one architecture, trains two independently seeded copies of each
initialisation on d1 (the paper's "same everything" surrogate is copy 2), and reports their clean test AUC, the mean
cosine between the copies' input gradients on 64 test images (why pre-trained pairs transfer: their gradients align),
and black-box perc_clean of FGSM and PGD from copy 2 to copy 1 at each eps, with the paired difference to the
shuffled control (negative beyond its CI: transfer beyond noise). Any StudyConfig key can be set.

    python scripts/sweep_default.py '{"domain": "pathology", "epochs_random": 8}' [more JSON specs ...]

One JSON line per spec on stdout; book/sweeps.yaml records the runs that sized the default profile.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from medadv.config import StudyConfig
from medadv.study import Condition, ModelSpec, Study

DEFAULT = dict(dataset="synthetic", image_size=48, n_dev=500, n_test=200, archs=["tf_efficientnet_lite0"],
               epochs_imagenet=2, epochs_random=8, batch_size=32, n_boot=200, store="_build/store-sweeps",
               progress=False, pgd_steps=20, pgd_alpha=0.005, device="cpu")


def gradient_cosine(study: Study, a: ModelSpec, b: ModelSpec, n: int = 64) -> float:
    """Mean cosine similarity of the two models' loss gradients with respect to the same test images."""
    test = study.test(a.domain)
    x = torch.tensor(test.images[:n] / 255.0, dtype=torch.float32).permute(0, 3, 1, 2).requires_grad_(True)
    y = torch.as_tensor(test.labels[:n])
    grads = []
    for spec in (a, b):
        logits = study.model(spec).float()(x)
        loss = F.binary_cross_entropy_with_logits(logits, y.float()) if y.ndim == 2 else F.cross_entropy(logits, y)
        grads.append(torch.autograd.grad(loss, x)[0].reshape(n, -1))
    return float(F.cosine_similarity(grads[0], grads[1]).mean())


def sweep(domain: str, eps: list[float] = (0.02, 0.04, 0.08), inits: list[str] = ("random", "imagenet"),
          **overrides: Any) -> dict[str, Any]:
    cfg = StudyConfig.from_mapping({**DEFAULT, "domains": [domain], **overrides})
    study, arch, start = Study(cfg), cfg.archs[0], time.time()
    out: dict[str, Any] = {"domain": domain, **overrides}
    for init in inits:
        target, surrogate = ModelSpec(domain, arch, init, "d1", 1), ModelSpec(domain, arch, init, "d1", 2)
        out[f"{init} auc"] = [round(study.clean_auc(m)["value"], 3) for m in (target, surrogate)]
        small = ModelSpec(domain, arch, init, "d1/10", 1)
        out[f"{init} d1/10 auc"] = round(study.clean_auc(small)["value"], 3)
        out[f"{init} gradient cosine"] = round(gradient_cosine(study, target, surrogate), 4)
        for e in eps:
            for attack in cfg.attacks:
                adv = Condition(target, surrogate, attack, e)
                vs = study.perc_clean_difference([adv], [Condition(target, surrogate, attack, e, "shuffled")])
                out[f"{init} {attack} {e:g}"] = (f"{study.perc_clean([adv])['value']:.1f} (vs control "
                                                 f"{vs['value']:+.1f} [{vs['ci_low']:+.1f}, {vs['ci_high']:+.1f}])")
    out["seconds"] = round(time.time() - start)
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:] or ['{"domain": "pathology"}']:
        print(json.dumps(sweep(**json.loads(arg))), flush=True)
