"""``diffusiontalker relevel``: let a trained model read audio at its data's level, without training.

Mel encoders trained before ``level`` existed standardise every input by its own
statistics, so a clip with more pauses, or more open vowels, shifts every frame's
features and with them the mouth's mean opening over the clip. On SynthTalk the
bundled demo's student, given its training data's level as it is, named the right
speaker's style 84% of the time against 75% (docs/results.md), with the same lip error.
Training under the level instead lost style (runs G and H there), which is why this
is a command of its own and not a flag of ``train`` or ``distill``.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Write a copy of a mel-encoder checkpoint that standardises its log-mel by the training
data's level (mean and spread over every frame of the 'train' split, stored in the copy)
instead of by each input's own statistics. The weights are not changed.

  diffusiontalker relevel --checkpoint runs/demo/student.json --data data/synthtalk --out runs/demo/relevelled
"""


def add_cli(sub) -> None:
    p = sub.add_parser("relevel", help="make a trained mel-encoder model read audio at its data's level",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint whose mel encoder standardises per input")
    p.add_argument("--data", required=True, help="the dataset it was trained on (its 'train' split is measured)")
    p.add_argument("--dataset", choices=["synthtalk", "vocaset", "biwi"], default="synthtalk")
    p.add_argument("--out", required=True, help="the copy's path, e.g. runs/demo/relevelled (.json and .safetensors)")
    p.set_defaults(run=run)


def run(args) -> int:
    from .batches import load_split
    from .checkpoint import load_checkpoint, paths_of, save_checkpoint
    from .errors import DiffusionTalkerError
    from .model import TalkerModel
    from .train import with_mel_level

    model, doc = load_checkpoint(args.checkpoint)
    config = model.config
    if config["encoder"]["kind"] != "mel" or "level" in config["encoder"]:
        what = "already reads at a level" if "level" in config["encoder"] else f"has a {config['encoder']['kind']} encoder"
        raise DiffusionTalkerError(f"{args.checkpoint}: {what}; relevel is for mel encoders that standardise "
                                   "each input by its own statistics")
    clips = load_split(args.dataset, args.data, "train")
    speakers = list(dict.fromkeys(c.speaker for c in clips))
    if speakers != config["identities"]:
        raise DiffusionTalkerError(f"{args.data} has training speakers {', '.join(speakers)}; {args.checkpoint} "
                                   f"was trained on {', '.join(config['identities'])}: give the data it was "
                                   "trained on")
    relevelled = TalkerModel({**config, "encoder": with_mel_level(config["encoder"], "data", clips)})
    relevelled.load_state_dict(model.state_dict())
    level = relevelled.config["encoder"]["level"]
    card = {**doc["card"], "relevelled": {"from": os.path.basename(str(args.checkpoint)), "level": level,
                                          "measured_on": f"{args.dataset} at {os.path.abspath(args.data)} (train)"}}
    path = save_checkpoint(paths_of(args.out)[1], relevelled, card)
    print(f"log-mel level {level[0]:.3f} ± {level[1]:.3f} -> {path}", file=sys.stderr)
    return 0
