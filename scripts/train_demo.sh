#!/usr/bin/env bash
# Reproduce the bundled demo checkpoint (core/assets/demo.*) on a CPU; data and runs go to
# data/ and runs/ (git-ignored). About two hours on 2 cores, most of it the teachers.
# Needs apt-get download (Debian's package pool) for the real voices of the last stage.
#
# The demo is not trained from nothing: it starts from the previous demo (SynthTalk
# generator version 1, 8 speakers; its recipe is scripts/train_demo.sh at commit a0ca102),
# taken from git history. Its network carries over; its styles do not (new speakers, new
# identities). On top of it: a phone reader (--phonetic fuse) fed with what PocketSphinx
# recognises in each training clip (or, in 30% of windows, its alignment of the clip's
# text), SynthTalk generator version 2 (12 training speakers), the mouth terms, cross-speaker
# targets and audio augmentation; then a short fine-tune with real human voice lines mixed in;
# then the phones alone drive the motion; then distillation to 8 steps with the same terms.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.venv/bin/diffusiontalker
NOTE="Demo checkpoint trained ONLY on synthetic motion: SynthTalk generator version 2 (espeak-ng speech of 12 \
English-speaking synthetic speakers driving a procedural articulation of the FLAME template), starting from the \
previous demo, itself trained only on SynthTalk version 1; its last 2400 teacher steps and its distillation also \
heard 187 real human voice lines (10 min: Asterisk's English prompts by Allison Smith, CC-BY-SA-3.0, and \
Hedgewars voice packs, GFDL-1.3, from Debian), whose motion is SynthTalk's articulation of their force-aligned \
phones, not captured; in its last 1100 teacher steps and its distillation the espeak clips' motion too was \
re-articulated on the phones PocketSphinx aligns in their audio. It has never seen captured motion. Its motion \
follows PocketSphinx's phones alone (an acoustic model trained on real US-English speech: the words it \
recognises, or the transcript, aligned), and it is told which of the two it has; its mel encoder only finds the \
style from the voice (style auto). Its styles spk01..spk12 are SynthTalk version 2's speakers. Its training also \
used SynthTalk's cross-speaker targets (speaker k's motion for speaker j's audio), pairs that no recorded dataset \
has. Train on VOCASET/BIWI (see README) for real use."
mkdir -p runs/demo_v1
git show a0ca102:core/assets/demo.json > runs/demo_v1/demo.json
git show a0ca102:core/assets/demo.safetensors > runs/demo_v1/demo.safetensors
[ -f data/synthtalk2/synthtalk.json ] || $D data synth --out data/synthtalk2 --speakers 16 --sentences 40 --seed 0
TERMS=(--batch-size 8 --window 3 --style-weight 2 --contact-weight 4 --cross-speaker 0.75 --augment 0.3)
# Planned on a 3000-step schedule, it was stopped at step 1000 and resumed on a 2000-step one
# (the learning rate only falls faster from there); resuming is exact, so this replays it.
$D train --data data/synthtalk2 --out runs/demo2 --init runs/demo_v1/demo.json --phonetic fuse \
    --iterations 3000 --until 1000 --lr 2e-4 --save-every 250 --seed 0 "${TERMS[@]}"
$D train --data data/synthtalk2 --out runs/demo2 --resume --phonetic fuse \
    --iterations 2000 --lr 2e-4 --save-every 250 --seed 0 "${TERMS[@]}"
# Then ten minutes of real human voices (bench/real_training.py: Asterisk's English prompts and
# Hedgewars' voice packs from Debian, force-aligned and articulated by the 12 styles in turn;
# never the voices bench/real_voices.py scores on), mixed into the same training set.
[ -f data/synthtalk2_real/synthtalk.json ] || .venv/bin/python bench/real_training.py --merge-into data/synthtalk2_real
$D train --data data/synthtalk2_real --out runs/demo2/real --init runs/demo2/teacher.json \
    --iterations 500 --lr 1e-4 --save-every 250 --seed 1 "${TERMS[@]}"
# Then the phones alone drive the motion (--phonetic replace): the audio encoder is kept only
# to find the style from the voice; a wider phone reader is first fitted to say what the
# audio encoder said (reader_fit.py), then 800 steps with 70% of windows on aligned phones,
# since generation aligns the transcript or the words it recognises. (The stages up to
# here ran with the front-end cache of their day, version 2, whose recognised rows were
# allphone search's; a replay reads version 3's recognised words there, a close relative.)
$D train --data data/synthtalk2_real --out runs/lead --init runs/demo2/real/teacher.json --phonetic replace \
    --aligned-share 0.7 --iterations 800 --lr 2e-4 --save-every 200 --seed 3 "${TERMS[@]}"
# Then the targets follow the phones the model reads: every espeak clip is re-articulated on
# the phones PocketSphinx aligns in its own audio (bench/retime_synthtalk.py, from the cache
# the stage above left in data/synthtalk2_real), 600 steps; then the reader is told whether
# its phones were aligned or only recognised (--phone-trust), 500 steps with half of each;
# then distillation to 8 steps with the same terms.
[ -f data/synthtalk2_retimed/synthtalk.json ] || \
    .venv/bin/python bench/retime_synthtalk.py --base data/synthtalk2_real --out data/synthtalk2_retimed
$D train --data data/synthtalk2_retimed --out runs/retimed --init runs/lead/teacher.json \
    --aligned-share 0.7 --iterations 600 --lr 1e-4 --save-every 200 --seed 4 "${TERMS[@]}"
$D train --data data/synthtalk2_retimed --out runs/trust --init runs/retimed/teacher.json --phone-trust \
    --aligned-share 0.5 --iterations 500 --lr 1e-4 --save-every 250 --seed 5 "${TERMS[@]}"
$D distill --teacher runs/trust/teacher.json --data data/synthtalk2_retimed --out core/assets --name demo \
    --from-steps 64 --to-steps 8 --iterations 100 --seed 0 "${TERMS[@]}" --aligned-share 0.5 --note "$NOTE"
