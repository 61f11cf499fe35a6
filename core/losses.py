"""What a predicted motion is scored on, shared by the teacher, the baseline and distillation.

An MSE on vertex positions is dominated by when the mouth moves, so two failure modes
that matter to viewers cost it little:
- *style*: a speaker's signature is in slow statistics (how wide this jaw swings, where
  those mouth corners rest). A prediction that moves like the average speaker is off by
  a fraction of a millimetre per frame and is barely penalised. The style term compares
  each lip vertex's mean and standard deviation over the window with the truth's,
  which is what ``evaluate``'s style signature measures.
- *contact*: p/b/m need the lips to meet. A prediction that hedges between open and
  closed leaves a 1-2 mm gap that an MSE hardly notices but anyone sees. The contact
  term (after Imitator's lip-contact loss, Thambiraja et al. 2023) penalises the lip
  gap on the frames where the truth's lips are together; it needs no phoneme labels.
Both are off (weight 0) unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DiffusionTalkerError
from .frames import frame_mean
from .regions import CLOSED_MM, lip_gap, lip_region_file, load_regions, mouth_landmarks, vertex_weights


@dataclass
class MouthIndices:
    lips: torch.Tensor   # (L,) vertex indices of the lip region (style term)
    upper: torch.Tensor  # midline upper-lip vertices (contact term)
    lower: torch.Tensor  # midline lower-lip vertices
    closed: float        # truth opening below this, in model units, counts as lips together


class MotionLoss:
    def __init__(self, vertex_weights: torch.Tensor | None = None, velocity_weight: float = 1.0,
                 mouth: MouthIndices | None = None, style_weight: float = 0.0, contact_weight: float = 0.0):
        if (style_weight or contact_weight) and mouth is None:
            raise ValueError("the style and contact terms need the mouth's vertex indices")
        self.vertex_weights, self.velocity_weight = vertex_weights, velocity_weight
        self.mouth, self.style_weight, self.contact_weight = mouth, style_weight, contact_weight

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 truth: torch.Tensor | None = None) -> dict:
        """(B, T, V*3) prediction and target, (B, T) mask True on real frames -> losses;
        "loss" is the weighted sum to optimise, the others are detached for logging.
        ``truth`` is the captured motion when ``target`` is not (a distillation teacher's
        output): the style and contact terms hold the student to the data itself."""
        m = mask.float()
        pos = self._vertexwise((pred - target) ** 2, m)
        vel = self._vertexwise((pred.diff(dim=1) - target.diff(dim=1)) ** 2, m[:, 1:] * m[:, :-1])
        out = {"position": pos, "velocity": vel}
        total = pos + self.velocity_weight * vel
        B, T, _ = pred.shape
        p, q = pred.view(B, T, -1, 3), (target if truth is None else truth).view(B, T, -1, 3)
        if self.style_weight:
            out["style"] = self._style(p, q, m)
            total = total + self.style_weight * out["style"]
        if self.contact_weight:
            out["contact"] = self._contact(p, q, m)
            total = total + self.contact_weight * out["contact"]
        return {"loss": total, **{k: v.detach() for k, v in out.items()}}

    def _vertexwise(self, err: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        B, T, _ = err.shape
        err = err.view(B, T, -1, 3).sum(-1)
        w = self.vertex_weights
        if w is not None:
            err = err * w
        denom = m.sum() * (err.shape[-1] if w is None else w.sum())
        return (err.sum(-1) * m).sum() / denom.clamp(min=1)

    def _style(self, p: torch.Tensor, q: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        lips = self.mouth.lips

        def stats(x):
            x = x[:, :, lips]
            mean = frame_mean(x, m)
            return mean, (frame_mean((x - mean[:, None]) ** 2, m) + 1e-8).sqrt()

        (pm, ps), (qm, qs) = stats(p), stats(q)
        return ((pm - qm) ** 2 + (ps - qs) ** 2).mean()

    def _contact(self, p: torch.Tensor, q: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        # p and q are offsets from the neutral, so their gap is the change from the neutral's.
        truth = lip_gap(q, self.mouth.upper, self.mouth.lower)
        together = m * (truth < self.mouth.closed).float()
        gap = lip_gap(p, self.mouth.upper, self.mouth.lower)
        return (((gap - truth) ** 2) * together).sum() / together.sum().clamp(min=1)


def loss_from_args(args, template: np.ndarray, motion_scale: float, device) -> MotionLoss:
    """The loss ``train``'s and ``distill``'s flags ask for: lips weighted by --lip-weight, and the style and
    contact terms where their weights are set (they need the 'lips' region)."""
    num_vertices = len(template)
    path = lip_region_file(args.regions, num_vertices)
    # a file the user names must have 'lips'; FLAME's own masks are read when they are there
    lips = load_regions(path, num_vertices, ("lips",) if args.regions else ()).get("lips") if path else None
    weights = torch.from_numpy(vertex_weights(num_vertices, lips, args.lip_weight))
    mouth = None
    if args.style_weight or args.contact_weight:
        if lips is None:
            raise DiffusionTalkerError("--style-weight and --contact-weight need a 'lips' region: pass --regions")
        upper, lower = mouth_landmarks(template, lips)
        mouth = MouthIndices(*(torch.from_numpy(i).to(device) for i in (lips, upper, lower)),
                             closed=CLOSED_MM / 1000.0 / motion_scale)
    return MotionLoss(weights.to(device), args.velocity_weight, mouth, args.style_weight, args.contact_weight)
