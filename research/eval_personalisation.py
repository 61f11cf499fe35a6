"""New talking identities for speakers the model never saw, measured (issue 6).

    .venv/bin/python research/eval_personalisation.py --data data/synthtalk [--checkpoint CK] [--iterations 40]

SynthTalk's held-out speakers (``test_unseen``) say sentences 33-40. The first half are
their reference clips: a new identity is made from them as ``diffusiontalker
personalize`` does, from audio alone and from audio + motion (fitted to the frozen
model). The second half are evaluated with four choices of identity: the two
personalised ones, the nearest library identity (``--style auto``), and the mean of
the library. "own style" asks whether the take's style signature is nearest to its
speaker's truth among all ten speakers' (on SynthTalk: what each of them would have
done with the clip's own phoneme timings).
"""

import argparse
import sys

import torch

from diffusiontalker.batches import load_split
from diffusiontalker.evaluate import evaluate_checkpoint, markdown_table, own_style, sentence_of, style_references
from diffusiontalker.new_style import embed_from_audio, fit_to_motion
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import default_region_file, load_regions, mouth_landmarks


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a SynthTalk dataset with a test_unseen split")
    p.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    p.add_argument("--references", type=int, default=4, help="reference clips per speaker (default: 4)")
    p.add_argument("--iterations", type=int, default=40, help="motion-fitting steps (default: 40)")
    p.add_argument("--markdown", default=None, help="also write the table here")
    args = p.parse_args()
    torch.manual_seed(0)

    clips = load_split("synthtalk", args.data, "test_unseen")
    by_speaker: dict[str, list] = {}
    for c in sorted(clips, key=sentence_of):
        by_speaker.setdefault(c.speaker, []).append(c)
    refs = {s: cs[: args.references] for s, cs in by_speaker.items()}
    tests = [c for cs in by_speaker.values() for c in cs[args.references:]]
    num_vertices = clips[0].vertices.shape[1]
    regions = load_regions(default_region_file("vocaset_eval_regions.json"), num_vertices)
    lips = mouth_landmarks(clips[0].template, load_regions(default_region_file("FLAME_masks.json"),
                                                           num_vertices)["lips"])
    kind, references = style_references("synthtalk", args.data, regions["lve"], {"test_unseen": clips})
    gen = Generator.load(args.checkpoint, "cpu")
    print(f"{gen.checkpoint_path}: {len(tests)} test clips of {', '.join(by_speaker)}; identities from "
          f"{args.references} reference clips each; own style judged against the {kind} truth", file=sys.stderr)

    from_audio = {s: embed_from_audio(gen, [c.audio for c in cs]) for s, cs in refs.items()}
    from_motion = {}
    for s, cs in refs.items():
        motions = [c.vertices - c.template[None] for c in cs]
        from_motion[s] = fit_to_motion(gen, [c.audio for c in cs], motions, from_audio[s], args.iterations, seed=0)
        print(f"fitted {s}", file=sys.stderr)
    mean = gen.model.bank.embeddings.detach().mean(0)

    choices = {
        "personalised (audio + motion)": lambda g, c: from_motion[c.speaker],
        "personalised (audio)": lambda g, c: from_audio[c.speaker],
        "nearest library identity (auto)": own_style,  # held-out speakers are not in the library: auto
        "mean library identity": lambda g, c: mean,
    }
    results = {name: evaluate_checkpoint(gen, tests, regions, lips, None, 1, False, references, style_of)
               for name, style_of in choices.items()}
    table = markdown_table(results)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
