"""What a training run keeps besides the weights: EMA and optimizer state as tensors.

Resume files are ordinary checkpoints (safetensors + JSON), so resuming never needs
pickle; Adam's per-parameter moments are flattened into ``extra.opt.*`` tensors.
"""

from __future__ import annotations

import torch

from .errors import DiffusionTalkerError


def require_finite(loss: torch.Tensor, step: int) -> None:
    """Stop before a NaN or infinite loss reaches the weights: one such step poisons the
    EMA and every checkpoint after it, and the run would still end as if it had trained."""
    if not torch.isfinite(loss):
        raise DiffusionTalkerError(f"the loss became {loss.item()} at step {step + 1}; stopped before it reached "
                                   "the weights (the last saved checkpoint, if any, is untouched): try a lower --lr")


def optimisation_step(optimizer, loss: torch.Tensor, model: torch.nn.Module, step: int) -> None:
    """One update, the same for a teacher and a student: refuse a non-finite loss, then
    backward, clip the gradient norm at 1 (a rare huge window must not undo a run) and step."""
    require_finite(loss, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)


def optimizer_state_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for key, value in optimizer.state.get(p, {}).items():
            out[f"opt.{i}.{key}"] = torch.as_tensor(value).reshape(-1) if key == "step" else value
    return out


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for name, value in tensors.items():
        if name.startswith("extra.opt."):
            i, key = name[len("extra.opt."):].split(".", 1)
            p = params[int(i)]
            value = value.to(p.device)
            optimizer.state[p][key] = value.reshape(()) if key == "step" else value
