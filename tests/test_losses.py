"""What the training losses reward: vertex weights and masks, a speaker's motion
statistics (style), and lips that meet where the truth's do (contact)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.evaluate import mouth_opening
from diffusiontalker.losses import MouthIndices, MotionLoss, loss_from_args

V = 6
# vertex 0 upper lip, vertex 1 lower lip, vertices 0-2 the lip region, 3-5 the rest of the face
MOUTH = MouthIndices(lips=torch.tensor([0, 1, 2]), upper=torch.tensor([0]), lower=torch.tensor([1]), closed=0.5)


def motion(frames=12):
    """(1, T, V*3) truth: the lower lip drops and comes back twice; closed at both ends and in the middle."""
    x = torch.zeros(1, frames, V, 3)
    x[0, :, 1, 1] = -2.0 * torch.sin(torch.linspace(0, 2 * torch.pi, frames)).abs()
    return x.reshape(1, frames, -1)


def test_vertex_weights_and_mask():
    pred, target = torch.zeros(1, 4, 6), torch.zeros(1, 4, 6)
    pred[0, :, 3:] = 1.0  # error only on vertex 1
    mask = torch.ones(1, 4, dtype=torch.bool)
    even = MotionLoss(velocity_weight=0.0)(pred, target, mask)["loss"]
    lips = MotionLoss(torch.tensor([0.0, 1.0]), velocity_weight=0.0)(pred, target, mask)["loss"]
    assert lips > even > 0
    pred[0, 3] = 100.0  # a huge error on a padded frame must not count
    mask[0, 3] = False
    assert MotionLoss(velocity_weight=0.0)(pred, target, mask)["loss"] == pytest.approx(float(even))


def test_style_term_scores_statistics_not_timing():
    truth = motion()
    mask = torch.ones(1, truth.shape[1], dtype=torch.bool)
    loss = MotionLoss(velocity_weight=0.0, mouth=MOUTH, style_weight=1.0)
    late = truth.roll(3, dims=1)  # the same movement at another time: same mean and spread per vertex
    timid = 0.5 * truth           # the right timing at half the amplitude: an under-expressed style
    assert loss(late, truth, mask)["style"] == pytest.approx(0.0, abs=1e-6)
    assert loss(late, truth, mask)["position"] > loss(timid, truth, mask)["position"]
    assert loss(timid, truth, mask)["style"] > 0.02
    face = truth.clone().view(1, -1, V, 3)
    face[:, :, 4] += 1.0  # off the lips: not part of the style term
    assert loss(face.reshape(truth.shape), truth, mask)["style"] == pytest.approx(0.0, abs=1e-6)


def test_contact_term_counts_only_frames_where_the_truth_is_closed():
    truth = motion()
    mask = torch.ones(1, truth.shape[1], dtype=torch.bool)
    loss = MotionLoss(velocity_weight=0.0, mouth=MOUTH, contact_weight=1.0)
    gap = -truth.view(1, -1, V, 3)[0, :, 1, 1]  # opening of the truth per frame
    wider = truth.clone().view(1, -1, V, 3)
    wider[0, gap >= 0.5, 1, 1] -= 1.0  # open wider where the truth is open: no contact error
    assert loss(wider.reshape(truth.shape), truth, mask)["contact"] == pytest.approx(0.0)
    ajar = truth.clone().view(1, -1, V, 3)
    ajar[0, gap < 0.5, 1, 1] -= 1.0  # a 1-unit gap where the lips should meet
    assert loss(ajar.reshape(truth.shape), truth, mask)["contact"] == pytest.approx(1.0)
    total = loss(ajar.reshape(truth.shape), truth, mask)
    assert float(total["loss"]) == pytest.approx(float(total["position"] + total["contact"]))


def test_contact_term_measures_the_gap_evaluate_judges():
    """Closure is scored on evaluate's mouth opening; the loss must square that same gap."""
    truth = torch.zeros(1, 5, V, 3)  # lips together on every frame
    ajar = truth.clone()
    ajar[0, :, 0, 1] = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4])  # upper lip lifts
    ajar[0, :, 1, 1] = -0.1                                     # lower lip drops
    loss = MotionLoss(velocity_weight=0.0, mouth=MOUTH, contact_weight=1.0)
    contact = loss(ajar.reshape(1, 5, -1), truth.reshape(1, 5, -1), torch.ones(1, 5, dtype=torch.bool))["contact"]
    frames = ajar[0].numpy()
    opening = mouth_opening(frames, np.zeros((V, 3), np.float32), np.array([0]), np.array([1]))
    assert opening == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert float(contact) == pytest.approx(float(np.mean(opening ** 2)))


def test_mouth_terms_need_the_lips():
    with pytest.raises(ValueError):
        MotionLoss(style_weight=1.0)
    args = SimpleNamespace(regions=None, lip_weight=4.0, velocity_weight=1.0, style_weight=1.0, contact_weight=0.0)
    with pytest.raises(DiffusionTalkerError, match="lips"):  # 40 vertices: no default FLAME regions
        loss_from_args(args, np.zeros((40, 3), np.float32), 0.001, "cpu")


def test_mouth_terms_can_follow_the_data_while_positions_follow_a_teacher():
    truth = motion()
    mask = torch.ones(1, truth.shape[1], dtype=torch.bool)
    loss = MotionLoss(velocity_weight=0.0, mouth=MOUTH, contact_weight=1.0)
    teacher = truth.clone().view(1, -1, V, 3)
    teacher[0, :, 1, 1] -= 1.0  # a teacher whose lips never quite meet
    teacher = teacher.reshape(truth.shape)
    assert loss(teacher, teacher, mask)["contact"] == pytest.approx(0.0)  # judged by the teacher: no gap to close
    assert loss(teacher, teacher, mask, truth=truth)["contact"] > 0.5     # judged by the data: lips must meet
    assert loss(teacher, teacher, mask, truth=truth)["position"] == pytest.approx(0.0)
