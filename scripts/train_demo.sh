#!/usr/bin/env bash
# Reproduce the bundled demo checkpoint (core/assets/demo.*) on a CPU; data and runs go to
# data/ and runs/ (git-ignored). About an hour and a half on 2 cores, most of it the teacher.
#
# The demo is not trained from nothing: it starts from the previous demo (SynthTalk
# generator version 1, 8 speakers; its recipe is scripts/train_demo.sh at commit a0ca102),
# taken from git history. Its network carries over; its styles do not (new speakers, new
# identities). On top of it: a phone reader (--phonetic fuse) fed with what PocketSphinx
# recognises in each training clip (or, in 30% of windows, its alignment of the clip's
# text), SynthTalk generator version 2 (12 training speakers), the mouth terms, cross-speaker
# targets and audio augmentation; then distillation to 8 steps with the same terms.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.venv/bin/diffusiontalker
NOTE="Demo checkpoint trained ONLY on synthetic data: SynthTalk generator version 2 (espeak-ng speech of 12 \
English-speaking synthetic speakers driving a procedural articulation of the FLAME template), starting from the \
previous demo, itself trained only on SynthTalk version 1. It has never seen captured motion and has never heard a \
human voice in training; it reads PocketSphinx's phones (an acoustic model trained on real US-English speech), \
which is what carries it to real voices (docs/results.md). Its styles spk01..spk12 are SynthTalk version 2's \
speakers. Its training also used SynthTalk's cross-speaker targets (speaker k's motion for speaker j's audio), \
pairs that no recorded dataset has. Train on VOCASET/BIWI (see README) for real use."
mkdir -p runs/demo_v1
git show a0ca102:core/assets/demo.json > runs/demo_v1/demo.json
git show a0ca102:core/assets/demo.safetensors > runs/demo_v1/demo.safetensors
[ -f data/synthtalk2/synthtalk.json ] || $D data synth --out data/synthtalk2 --speakers 16 --sentences 40 --seed 0
TERMS=(--batch-size 8 --window 3 --style-weight 2 --contact-weight 4 --cross-speaker 0.75 --augment 0.3)
$D train --data data/synthtalk2 --out runs/demo2 --init runs/demo_v1/demo.json --phonetic fuse \
    --iterations 3000 --lr 2e-4 --save-every 250 --seed 0 "${TERMS[@]}"
$D distill --teacher runs/demo2/teacher.json --data data/synthtalk2 --out core/assets --name demo \
    --from-steps 64 --to-steps 8 --iterations 100 --seed 0 "${TERMS[@]}" --note "$NOTE"
