"""Growing a phones-only model from one that hears audio: its phone reader first learns
to say what the audio encoder said.

``train --init CK --phonetic replace`` keeps CK's denoiser, which read CK's audio
features (and its audio encoder and personaliser, which go on finding the style from the
voice); a fresh phone reader would hand them features they have
never seen, and the motion loss alone teaches it slowly (250 steps from the previous
demo left the mouth nearly still, docs/results.md). Regressing the reader's output on
CK's features of the same training clips (plain MSE over whole clips, no diffusion, a
few minutes on a CPU) starts the fine-tune with a model that already speaks. What the
phones cannot tell (the voice's timbre) averages out, which is the point: the motion
then follows the phones, which PocketSphinx hears on any voice.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

CLIPS_PER_STEP = 16


@torch.no_grad()
def _targets(source, items) -> list[torch.Tensor]:
    """``source``'s features of each whole clip, heard with its aligned phones where it has them."""
    source.eval()
    return [source.encode_audio(torch.from_numpy(it.wave)[None], len(it.motion),
                                heard=torch.from_numpy(it.recognised if it.aligned is None else it.aligned)[None])[0]
            for it in items]


def fit_reader(reader, source, items, steps: int, seed: int, aligned_share: float, lr: float = 1e-3) -> float:
    """Fit ``reader`` (a PhoneReader) to ``source``'s audio features on ``items``
    (batches.Item with front-end phones); its input is the clip's aligned phones in
    ``aligned_share`` of draws, its recognised ones otherwise, as training windows get
    them. Returns the share of the features' variance left unexplained at the end."""
    from tqdm import tqdm

    targets = _targets(source, items)
    scale = torch.cat(targets).var(dim=0).sum()
    rng = np.random.default_rng(seed)
    # the trust vector (PhoneReader.aligned) says where phones were aligned, which the audio
    # features know nothing of: it is left at zero for the motion loss to set
    fitted = [p for name, p in reader.named_parameters() if name != "aligned"]
    optimizer = torch.optim.AdamW(fitted, lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    reader.train()
    unexplained = float("nan")
    bar = tqdm(range(steps), desc="phone reader learns the audio features", file=sys.stderr)
    for _ in bar:
        loss = 0.0
        for i in rng.integers(0, len(items), CLIPS_PER_STEP):
            item = items[i]
            heard = item.aligned if item.aligned is not None and rng.random() < aligned_share else item.recognised
            pred = reader(torch.from_numpy(heard)[None])[0]
            loss = loss + ((pred - targets[i]) ** 2).sum(dim=1).mean() / scale
        loss = loss / CLIPS_PER_STEP
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        unexplained = float(loss.detach())
        bar.set_postfix(unexplained=f"{unexplained:.3f}")
    return unexplained
