"""``diffusiontalker train``: the teacher, with contrastive talking identities.

One step draws random windows of training clips, encodes their audio once, and adds
two losses:
- the diffusion loss: x0-prediction (lip-weighted, plus velocity) on motion noised at
  a uniformly drawn timestep, conditioned on each clip's speaker row of the identity
  library;
- the contrastive loss (InfoNCE): the personaliser's embedding of each clip's audio
  against all library rows, its own speaker's row being the positive.
With ``--phoneme-weight`` a third names the phoneme heard at each frame from the audio
encoder's features, where the data has phoneme timings (model.py says why).

It runs as one process or under ``torchrun`` (DistributedDataParallel; gloo on CPU,
nccl on GPUs): each rank draws its own windows from its own seed and gradients are
averaged, so N processes train with an N-times larger batch. Rank 0 alone writes.
``--objective regression`` trains the same network as a deterministic regressor
(no noise input), the FaceFormer-like baseline the results compare against.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from .argtypes import (add_dataset_flag, add_device_flag, add_seed_flag, non_negative_float, non_negative_int,
                       positive_float, positive_int, unit_interval)
from .interrupts import handling

PATH_FLAGS = ("data", "out", "init", "pretrained_encoder", "regions")  # recorded portably on the card
READER = ("encoder.", "phoneme_head.")  # the parameters --encoder-lr applies to
# flag -> (model config key, a new model's default); a resumed or fine-tuned run keeps its checkpoint's
ARCHITECTURE = {"diffusion_steps": ("diffusion_steps", 512), "d_model": ("d_model", 128),
                "layers": ("n_layers", 4), "heads": ("n_heads", 4), "d_identity": ("d_identity", 64),
                "encoder": ("encoder", "mel")}

DESCRIPTION = """\
Train a DiffusionTalker teacher (or a regression baseline) on a dataset.

Single machine:   diffusiontalker train --data data/synthtalk --out runs/teacher
Several processes (DistributedDataParallel, one per GPU or CPU socket):
  torchrun --nproc_per_node 2 -m diffusiontalker.cli train --data DIR --out DIR
Ctrl-C or SIGTERM (a scheduler preempting the job) saves the step under way, then stops;
resume an interrupted run with --resume (it continues from OUT/teacher.json).
Fine-tune a trained teacher with --init CHECKPOINT (new schedule, e.g. --lr 1e-4); the
optional --style-weight and --contact-weight terms are explained in losses.py.
"""


def add_cli(sub) -> None:
    p = sub.add_parser("train", help="train a teacher model (diffusion or regression baseline)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset root (SynthTalk, processed VOCASET or BIWI)")
    add_dataset_flag(p)
    p.add_argument("--out", required=True, help="output folder; the checkpoint is OUT/NAME.{json,safetensors}")
    p.add_argument("--name", default="teacher", help="checkpoint name (default: teacher)")
    p.add_argument("--objective", choices=["diffusion", "regression"], default="diffusion",
                   help="diffusion: the DiffusionTalker teacher; regression: the deterministic baseline of "
                        "docs/results.md, the same network without noise (default: diffusion)")
    p.add_argument("--iterations", type=positive_int, default=3000, help="optimizer steps (default: 3000)")
    p.add_argument("--lr", type=non_negative_float, default=4e-4, help="peak learning rate, AdamW (default: 4e-4)")
    p.add_argument("--encoder-lr", type=non_negative_float, default=None,
                   help="peak learning rate of the audio encoder and phoneme head (default: --lr); a fine-tune "
                        "that teaches the encoder phonemes wants it higher than the rest's")
    p.add_argument("--diffusion-steps", type=positive_int, default=None, help="training timesteps T (default: 512)")
    p.add_argument("--d-model", type=positive_int, default=None, help="width of the network (default: 128)")
    p.add_argument("--layers", type=positive_int, default=None, help="denoiser transformer blocks (default: 4)")
    p.add_argument("--heads", type=positive_int, default=None,
                   help="attention heads; must divide --d-model (default: 4)")
    p.add_argument("--d-identity", type=positive_int, default=None, help="size of a talking identity (default: 64)")
    p.add_argument("--encoder", choices=["mel", "hubert", "wav2vec2"], default=None,
                   help="audio reader: log-mel trained from scratch, or HuBERT/wav2vec2 from --pretrained-encoder "
                        "(default: mel)")
    p.add_argument("--audio-context-ms", type=non_negative_int, default=0, metavar="MS",
                   help="mel encoder only: a per-channel filter that lets each audio feature see MS further "
                        "ahead and behind, for the mouth's anticipation (default: 0, none); with --init it is "
                        "added to the checkpoint's encoder, starting at zero")
    p.add_argument("--phonetic", choices=["fuse", "replace"], default=None,
                   help="read the phonetic front-end's phones (PocketSphinx, phonetics.py): 'fuse' beside the "
                        "audio encoder, 'replace' instead of it; run on every training clip once and cached in "
                        "the dataset folder (frontend.json). With --init, 'fuse' grows a model that had none, "
                        "and 'replace' turns a model that hears audio into one whose motion follows the phones "
                        "alone, its audio encoder kept only to find the style (see --reader-fit-steps)")
    p.add_argument("--audio-dropout", type=unit_interval, default=0.0, metavar="SHARE",
                   help="with --phonetic fuse: silence the audio encoder in this share of training windows, so "
                        "the model must follow the phones alone there (on espeak data the mel explains the "
                        "motion, and a phone reader grown beside it learns little; default: 0)")
    p.add_argument("--unconditional", type=unit_interval, default=0.0, metavar="SHARE",
                   help="zero the audio features in this share of training windows and, drawn apart, the talking "
                        "identity in this share, so generation can use classifier-free guidance "
                        "(generate --guidance; distill --guidance bakes it into a student). 0.1-0.2 is usual "
                        "(default: 0, off)")
    p.add_argument("--phone-trust", action="store_true",
                   help="tell the phone reader whether a window's phones were aligned to its text or only "
                        "recognised (generation: a transcript given or not), so it can follow the first "
                        "closely and hedge on the second; with --init it is added to the checkpoint's model, "
                        "starting as if absent")
    p.add_argument("--reader-fit-steps", type=non_negative_int, default=1500, metavar="N",
                   help="with --init of a model that hears audio and --phonetic replace: first fit the new phone "
                        "reader to the checkpoint's audio features for N steps of 16 whole clips, so the "
                        "fine-tune starts from a model that speaks (default: 1500, a few minutes; 0: skip)")
    p.add_argument("--clip-summary", action="store_true",
                   help="condition every frame also on the clip's pooled audio (mean features and how fast "
                        "they change), so how far the lips travel can follow the clip's speaking pace; with "
                        "--init it is added to the checkpoint's model, starting at zero (default: off; on "
                        "SynthTalk it cost 3 points of style and 9 of relative style, docs/results.md)")
    p.add_argument("--pretrained-encoder", default=None,
                   help="local folder (or hub id, where reachable) with HuBERT/wav2vec2 weights")
    add_shared_flags(p)
    p.add_argument("--phoneme-weight", type=non_negative_float, default=0.0,
                   help="weight of the phoneme term: the audio encoder's features name the phoneme heard at "
                        "each frame (needs phoneme timings, as SynthTalk has; default: 0, off; 1 with "
                        "--encoder-lr 1e-3 in a fine-tune of the demo's teacher: LVE -19%%, style unchanged, "
                        "docs/results.md)")
    p.add_argument("--ema", type=unit_interval, default=0.999, help="EMA decay of the saved weights (default: 0.999)")
    p.add_argument("--save-every", type=positive_int, default=500, help="checkpoint every N steps (default: 500)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in OUT")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run over the checkpoint already in OUT (without it, that is refused)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="fine-tune: start from this checkpoint's weights (same speakers and objective) with a "
                        "fresh optimiser and learning-rate schedule")
    p.add_argument("--until", type=positive_int, default=None,
                   help="stop (and save) after this step, e.g. to fit a cluster's time limit; continue "
                        "later with --resume")
    add_seed_flag(p, "the initial weights, the windows and the noise")
    add_device_flag(p)
    p.set_defaults(run=run)


def add_shared_flags(p) -> None:
    """What ``train`` and ``distill`` both take, with the same meaning and default: the
    windows, the losses (losses.py's optional mouth terms too) and SynthTalk's
    cross-speaker targets."""
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per step and process (default: 8)")
    p.add_argument("--window", type=positive_float, default=3.0,
                   help="seconds of each training window; a shorter clip is taken whole, padded in its batch "
                        "(default: 3)")
    p.add_argument("--regions", default=None,
                   help="JSON of vertex regions with a 'lips' list (default: shared/flame/FLAME_masks.json "
                        "beside the project, for 5023-vertex data)")
    p.add_argument("--lip-weight", type=non_negative_float, default=4.0,
                   help="loss weight of lip vertices (default: 4)")
    p.add_argument("--velocity-weight", type=non_negative_float, default=2.0,
                   help="weight of the velocity loss (default: 2)")
    p.add_argument("--contrastive-weight", type=non_negative_float, default=0.1, help="InfoNCE weight; in distill it keeps the style found from the voice (--style auto) working "
                        "(default: 0.1)")
    p.add_argument("--temperature", type=positive_float, default=0.1, help="InfoNCE temperature (default: 0.1)")
    p.add_argument("--style-weight", type=non_negative_float, default=0.0,
                   help="weight of the style term: each lip vertex's mean and spread over the window against "
                        "the truth's (default: 0, off; the demo used 2; 32 in distill raised style accuracy at the cost "
                        "of lip closure, docs/results.md; see losses.py)")
    p.add_argument("--contact-weight", type=non_negative_float, default=0.0,
                   help="weight of the lip-contact term: the lip gap where the truth's lips are together "
                        "(default: 0, off; the demo used 2, then 4: p/b/m closure 82%% -> 96%%)")
    p.add_argument("--mel-level", choices=["data", "clip"], default=None,
                   help="mel encoder only: train it standardising the log-mel by the training data's level, "
                        "measured once and stored in the checkpoint ('data'), or each input by its own ('clip'); "
                        "default: the checkpoint's own, 'clip' for a new model; in distill it sets the student's. "
                        "On SynthTalk 'data' gave 6-11%% lower LVE and 15-18 points lower style accuracy on "
                        "the test split (docs/results.md)")
    p.add_argument("--cross-speaker", type=unit_interval, default=0.0, metavar="SHARE",
                   help="SynthTalk only: this share of windows gets another training speaker's motion for the "
                        "same audio, conditioned on that speaker, so a style is learnt apart from the voice "
                        "(default: 0, off; the demo used 0.75: style accuracy 31%% -> 52%%; "
                        "see synthtalk/counterfactual.py)")
    p.add_argument("--augment", type=unit_interval, default=0.0, metavar="PROB",
                   help="audio augmentation: each of tempo (the motion re-timed with it), pitch and formants, "
                        "room reverb, noise at 5-30 dB SNR, telephone band and a lossy codec (mp3, aac, opus) "
                        "is applied to a training window's audio with probability PROB, so the audio reader "
                        "learns the phonetics rather than one synthesizer's voice; 0.3 changes 88%% of windows "
                        "(default: 0, off; needs pedalboard; see augment.py)")
    p.add_argument("--aligned-share", type=unit_interval, default=None, metavar="SHARE",
                   help="for a model that reads phones: the share of windows whose phones are the "
                        "front-end's alignment of the clip's text; the rest get what it recognises "
                        "(the words it hears, aligned) "
                        "(default: 0.3, batches.ALIGNED_SHARE; generation aligns the transcript, or the words it "
                        "recognises, so a model meant to follow the phones wants more)")


def encoder_config(args, encoder: dict, clips) -> dict:
    """``encoder`` with --audio-context-ms and --mel-level (measured on ``clips``) applied."""
    from .encoders import MelEncoder
    from .errors import DiffusionTalkerError

    if encoder["kind"] != "mel" and args.audio_context_ms:
        raise DiffusionTalkerError(f"--audio-context-ms is for the mel encoder; {encoder['kind']} already attends "
                                   "over the whole clip")
    if args.audio_context_ms:
        ms_per_frame = MelEncoder.ms_per_frame
        frames = max(1, round(args.audio_context_ms / ms_per_frame))
        if encoder.get("context", frames) != frames:
            raise DiffusionTalkerError(f"the encoder already has {encoder['context'] * ms_per_frame:g} ms of audio "
                                       f"context; it cannot become {args.audio_context_ms} ms")
        encoder = {**encoder, "context": frames}
    return with_mel_level(encoder, args.mel_level, clips)


def with_mel_level(encoder: dict, level: str | None, clips) -> dict:
    """``encoder`` standardising its log-mel by ``clips``' level ('data') or each input by
    its own ('clip'); None leaves it as it is."""
    from .audio import normalise
    from .encoders import log_mel_level
    from .errors import DiffusionTalkerError

    if level and encoder["kind"] != "mel":
        raise DiffusionTalkerError(f"--mel-level is for the mel encoder; {encoder['kind']} reads the waveform")
    out = dict(encoder)
    if level == "data" and "level" not in out:
        out["level"] = log_mel_level(normalise(c.audio) for c in clips)
    elif level == "clip":
        out.pop("level", None)
    return out


def restyle_from_args(args, clips, speakers: list[str], motion_scale: float):
    """The cross-speaker restyle for ``batch_sampler``, or None when --cross-speaker is 0."""
    if not args.cross_speaker:
        return None
    from .errors import DiffusionTalkerError
    from .synthtalk.counterfactual import Counterfactuals, CrossSpeakerTargets

    if args.dataset != "synthtalk":
        raise DiffusionTalkerError("--cross-speaker needs SynthTalk: recorded data has no other speaker's motion "
                                   "for the same audio")
    return CrossSpeakerTargets(Counterfactuals(args.data), clips, speakers, motion_scale, args.cross_speaker)


def settle_architecture(args, config: dict | None = None) -> None:
    """Fill the architecture flags: a new model's defaults, or with ``config`` (the
    checkpoint a run resumes or fine-tunes) its values, refusing a flag that asks for
    others: the model cannot change shape, and its card must say what it is."""
    from .errors import DiffusionTalkerError

    for flag, (key, default) in ARCHITECTURE.items():
        given = getattr(args, flag)
        if config is None:
            setattr(args, flag, default if given is None else given)
            continue
        kept = config[key]["kind"] if key == "encoder" else config[key]
        if given is not None and given != kept:
            raise DiffusionTalkerError(f"--{flag.replace('_', '-')} {given}: the checkpoint's model has {kept}, and a "
                                       "resumed or fine-tuned run keeps its model")
        setattr(args, flag, kept)


@contextmanager
def interrupt_between_steps(distributed: bool):
    """An Event set by Ctrl-C or SIGTERM (a scheduler preempting the job), which the loop
    answers after the step under way by saving it and stopping: the work since the last
    periodic save is kept (up to --save-every steps), and no state is saved halfway
    through an optimiser update. Alone, a second signal interrupts at once. Under
    torchrun the ranks hear Ctrl-C, and the SIGTERM torchrun sends after it, each at its
    own moment: every signal only sets the Event, and the ranks agree after each step
    whether any of them has it set (``_any_rank``), so they stop together at one step."""
    pressed = threading.Event()

    def first(signum, frame):
        pressed.set()
        if not distributed:
            for handled, before in previous.items():
                signal.signal(handled, before)

    with handling(first, signal.SIGINT, signal.SIGTERM) as previous:
        yield pressed


def _any_rank(flag: bool, device) -> bool:
    """Whether ``flag`` is set on any rank; every rank gets the same answer."""
    import torch
    import torch.distributed as dist

    either = torch.tensor([float(flag)], device=device)
    dist.all_reduce(either, op=dist.ReduceOp.MAX)
    return bool(either.item())


def run(args) -> int:
    import numpy as np
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from tqdm import tqdm

    from .augment import augmenter
    from .checkpoint import load_checkpoint, load_tensors, paths_of, save_checkpoint
    from .diffusion import GaussianDiffusion
    from .model import TalkerModel, make_config
    from .device import resolve_device
    from .batches import ALIGNED_SHARE, batch_sampler, clip_items, load_split, phoneme_list
    from .clip_phones import heard_in
    from .objective import Objective
    from .errors import DiffusionTalkerError
    from .losses import loss_from_args
    from .outputs import portable, writable_folder
    from .trainstate import ema_update, optimisation_step, optimizer_state_tensors, restore_optimizer

    if args.resume and args.init:
        raise DiffusionTalkerError("--resume continues OUT's own run; --init starts a new one: give one of them")
    writable_folder(args.out, "--out")
    ckpt = paths_of(os.path.join(args.out, args.name))[1]
    if ckpt.exists() and not (args.resume or args.overwrite):
        raise DiffusionTalkerError(f"{ckpt} holds a run already: --resume continues it, --overwrite starts again "
                                   "over it, or give another --out or --name")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device, notes = resolve_device(args.device)
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "cuda":
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    main_rank = rank == 0
    for note in notes if main_rank else []:
        print(f"warning: {note}", file=sys.stderr)
    torch.manual_seed(args.seed + rank)

    clips = load_split(args.dataset, args.data, "train")
    speakers = list(dict.fromkeys(c.speaker for c in clips))
    fps = float(clips[0].fps)
    num_vertices = clips[0].vertices.shape[1]

    if args.encoder not in (None, "mel") and not (args.pretrained_encoder or args.resume or args.init) and main_rank:
        print(f"warning: --encoder {args.encoder} without --pretrained-encoder starts from random weights: "
              "it must learn speech from this data alone", file=sys.stderr)
    if args.phoneme_weight and not any(c.phonemes for c in clips):
        raise DiffusionTalkerError(f"--phoneme-weight needs phoneme timings; {args.data} has none "
                                   "(a forced aligner can make them for recorded speech)")
    state = source = speaking = None
    lineage = {}  # a fine-tuned teacher's card keeps the card of what it started from
    if args.resume:
        doc, state = load_tensors(ckpt)
        lineage = {k: v for k, v in doc.get("card", {}).items() if k in ("init", "init_card")}
        config = doc["config"]
        if set(config["identities"]) != set(speakers):
            raise DiffusionTalkerError(f"{ckpt} was trained on {', '.join(config['identities'])}; {args.data} has "
                                       f"{', '.join(speakers)}: resume on the run's own data, or start from it "
                                       "with --init")
        speakers = list(config["identities"])  # the run's own order: identity k stays speaker k
        settle_architecture(args, config)
        if encoder_config(args, config["encoder"], clips) != config["encoder"]:
            raise DiffusionTalkerError(f"--audio-context-ms or --mel-level does not match {ckpt}; a resumed run "
                                       "keeps its model (change one with --init)")
        if args.phoneme_weight and not config.get("phonemes"):
            raise DiffusionTalkerError(f"{ckpt} was started without --phoneme-weight: its model has no phoneme "
                                       "head to resume")
        if args.clip_summary and not config.get("clip_summary"):
            raise DiffusionTalkerError(f"{ckpt} was started without --clip-summary; a resumed run keeps its "
                                       "model (add it with --init)")
        if args.phonetic and args.phonetic != config.get("phonetic"):
            raise DiffusionTalkerError(f"{ckpt} reads phones {config.get('phonetic') or 'not at all'}; a resumed "
                                       f"run keeps its model (--phonetic {args.phonetic} needs --init)")
        if args.phone_trust and not config.get("phone_trust"):
            raise DiffusionTalkerError(f"{ckpt} was started without --phone-trust; a resumed run keeps its model "
                                       "(add it with --init)")
        if args.unconditional and not config.get("unconditional"):
            raise DiffusionTalkerError(f"{ckpt} was started without --unconditional; a resumed run keeps its "
                                       "model (add it with --init)")
    elif args.init:
        source, init_doc = load_checkpoint(args.init)
        lineage = {"init": os.path.basename(args.init), "init_card": init_doc["card"]}
        config = source.config
        settle_architecture(args, config)
        if config["objective"] != args.objective:
            raise DiffusionTalkerError(f"{args.init}: a {config['objective']} model; this run trains a "
                                       f"{args.objective} teacher")
        # 'replace' keeps everything, its audio encoder now only hearing the voice for the
        # style, and first teaches its phone reader what that encoder said (reader_fit.py)
        if args.phonetic and config["phonetic"] not in (None, args.phonetic, "fuse"):
            raise DiffusionTalkerError(f"{args.init} reads phones '{config['phonetic']}'; it cannot become "
                                       f"--phonetic {args.phonetic}")
        if args.phonetic == "replace" and config["phonetic"] != "replace":
            speaking = source
        if args.phoneme_weight and not config["phonemes"]:  # give the model a phoneme head to train
            config = {**config, "phonemes": phoneme_list(clips)}
        # A student, or a model of other speakers, starts a teacher of these: the network
        # carries over, a new speaker's identity starts afresh (the card says where it began).
        config = {**config, "encoder": encoder_config(args, config["encoder"], clips),
                  "clip_summary": config["clip_summary"] or args.clip_summary,
                  "phonetic": args.phonetic or config["phonetic"], "identities": speakers,
                  "phone_trust": config["phone_trust"] or args.phone_trust,
                  # once trained so a model stays guidable, as far as a fine-tune without it keeps the skill
                  "unconditional": config["unconditional"] or args.unconditional > 0,
                  "distilled": False, "sampling_steps": config["diffusion_steps"]}
        if config != source.config:  # grown: only the new parts are missing from the source's weights
            source = source.reconfigured(config)
    else:
        settle_architecture(args)
        if args.d_model % args.heads or args.d_model % 2:
            raise DiffusionTalkerError(f"--d-model {args.d_model} must be even and a multiple of --heads {args.heads}")
        offsets = np.concatenate([(c.vertices - c.template[None]).reshape(-1) for c in clips])
        config = make_config(
            num_vertices=num_vertices, fps=fps, motion_scale=float(np.sqrt(np.mean(offsets ** 2))),
            d_model=args.d_model, n_layers=args.layers, n_heads=args.heads, d_identity=args.d_identity,
            encoder=encoder_config(args, {"kind": args.encoder}, clips), identities=speakers,
            diffusion_steps=args.diffusion_steps,
            sampling_steps=args.diffusion_steps, objective=args.objective,
            phonemes=phoneme_list(clips) if args.phoneme_weight else [], clip_summary=args.clip_summary,
            phonetic=args.phonetic, phone_trust=args.phone_trust, unconditional=args.unconditional > 0)
        del offsets
    if args.unconditional and args.objective == "regression":
        raise DiffusionTalkerError("--unconditional trains a diffusion model to be guided; the regression baseline "
                                   "has no sampler to guide")
    if config.get("phone_trust") and not config["phonetic"]:  # runs saved before it lack the key
        raise DiffusionTalkerError("--phone-trust tells the phone reader where its phones come from: it needs a "
                                   "model that reads them (--phonetic)")
    if args.audio_dropout and config["phonetic"] != "fuse":
        raise DiffusionTalkerError("--audio-dropout silences the audio encoder beside the phones: it needs a model "
                                   "with --phonetic fuse")
    restyle = restyle_from_args(args, clips, speakers, config["motion_scale"])
    augment = augmenter(args.augment, fps)
    torch.manual_seed(args.seed)  # identical initial weights on every rank
    # a fine-tune trains the checkpoint's own model; anything else is built from the config
    model = (source.train() if source is not None
             else TalkerModel(config, None if args.resume else args.pretrained_encoder)).to(device)
    if hasattr(model, "phoneme_head") and not args.phoneme_weight:
        model.phoneme_head.requires_grad_(False)  # left out of the loss: DDP must not wait for its gradient
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    # the audio reader's group first keeps the parameter order, and so the saved optimizer state, of runs
    # that had one group
    reader = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith(READER)]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(READER)]
    reader_lr = args.lr if args.encoder_lr is None else args.encoder_lr
    optimizer = torch.optim.AdamW([{"params": reader, "base_lr": reader_lr}, {"params": rest, "base_lr": args.lr}],
                                  weight_decay=0.01)
    start = 0
    if state is not None:
        ema.load_state_dict({k: v for k, v in state.items() if not k.startswith("extra.")})
        model.load_state_dict({k[len("extra.raw."):]: v for k, v in state.items() if k.startswith("extra.raw.")})
        restore_optimizer(optimizer, state)
        start = int(state["extra.step"])

    aligned_share = ALIGNED_SHARE if args.aligned_share is None else args.aligned_share
    heard = heard_in(args.dataset, args.data, clips) if config["phonetic"] else None
    items = clip_items(clips, speakers, config["motion_scale"], config["phonemes"], heard)
    if speaking is not None and args.reader_fit_steps:
        from .reader_fit import fit_reader

        left = fit_reader(model.phone_reader, speaking, items, args.reader_fit_steps, args.seed, aligned_share)
        if main_rank:
            print(f"phone reader fitted to {args.init}'s audio features: {left:.0%} of their variance "
                  "left unexplained", file=sys.stderr)
        ema.load_state_dict(model.state_dict())
        del speaking
    loss_fn = loss_from_args(args, clips[0].template, config["motion_scale"], device)
    objective = Objective(model, GaussianDiffusion(config["diffusion_steps"]), loss_fn, args)
    wrapped = DistributedDataParallel(objective) if world > 1 else objective
    batches = batch_sampler(items, args.batch_size, args.window, fps, seed=args.seed * 1000 + rank, start=start,
                            restyle=restyle, augment=augment, aligned_share=aligned_share)
    generator = torch.Generator()

    def save(step: int) -> None:
        extras = {"step": torch.tensor([step])}
        extras.update({f"raw.{k}": v for k, v in model.state_dict().items()})
        extras.update(optimizer_state_tensors(optimizer))
        save_checkpoint(ckpt, ema, card={
            "trained_on": f"{args.dataset} '{portable(args.data)}' ({len(clips)} training clips, "
                          f"{len(speakers)} speakers)",
            "description": f"{args.objective} teacher, {step} steps"
                           + (f", fine-tuned from {lineage['init']}" if lineage else ""),
            "training": {k: portable(v) if k in PATH_FLAGS and v else v for k, v in vars(args).items() if k != "run"}
                        | {"step": step, "world_size": world},
            **lineage,
        }, extra_tensors=extras)

    warmup = min(200, args.iterations // 10 + 1)
    stop = min(args.iterations, args.until or args.iterations)
    if start >= stop:
        raise DiffusionTalkerError(f"{ckpt} is at step {start} already: give --iterations (or --until) beyond it")
    bar = tqdm(range(start, stop), desc=f"train {args.objective}", file=sys.stderr,
               disable=not main_rank, initial=start, total=args.iterations)
    began = time.perf_counter()
    with interrupt_between_steps(world > 1) as interrupted:
        for step in bar:
            shape = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / args.iterations))
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * shape
            batch = next(batches).to(device)
            # Noise and dropout seeded by (seed, rank, step): a resumed run repeats exactly
            # what an uninterrupted one would have done.
            step_seed = ((args.seed * 1_000_003 + rank) * 1_000_003 + step) % 2 ** 63  # large seeds fit torch's range
            generator.manual_seed(step_seed)
            torch.manual_seed(step_seed)
            losses = wrapped(*batch, generator)
            optimisation_step(optimizer, losses["loss"], model, step)
            ema_update(ema, model, min(args.ema, (1 + step) / (10 + step)))
            stopping = _any_rank(interrupted.is_set(), device) if world > 1 else interrupted.is_set()
            if main_rank:
                bar.set_postfix({k: f"{float(v.detach()):.4f}" for k, v in losses.items()})
                if (step + 1) % args.save_every == 0 or step + 1 == stop or stopping:
                    save(step + 1)
            if stopping:
                bar.close()
                if main_rank:
                    print(f"interrupted: step {step + 1} saved to {ckpt}; --resume continues it", file=sys.stderr)
                if world > 1:
                    dist.barrier()  # no rank leaves while the save is under way
                    dist.destroy_process_group()
                raise KeyboardInterrupt
    if main_rank:
        print(f"trained {stop - start} steps in {time.perf_counter() - began:.0f} s -> {ckpt}",
              file=sys.stderr)
    if world > 1:
        dist.destroy_process_group()
    return 0
