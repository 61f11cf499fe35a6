"""Any character: fit a head of any topology once, then land takes on it or on its
shape-key face rig (core/registration.py, binding.py, transfer.py, rig_solve.py).

The fit is kept on the head's mesh as a custom property (plain arrays, saved with the
.blend), with the template file it was made from and the head's orientation: a
modelled head stands in Blender's frame (Z up, face toward -Y), while a FLAME file
imported as it is lies in FLAME's (Y up, face toward +Z). Fitting is a worker job, as
generating is (running.py): numpy only, seconds to tens of seconds, with Blender usable
meanwhile; it changes nothing until it is done, and nothing when cancelled.
"""

from __future__ import annotations

import functools
import os

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..core.binding import CHIN
from ..core.errors import DiffusionTalkerError, check_cancel
from ..core.flame_frame import frame_of
from ..core.mesh import read_mesh
from ..core.regions import default_region_file, load_regions
from ..core.registration import LANDMARKS, POOR_FIT_M, Template, face_gap, load_template
from ..core.rig_solve import flame_basis, match_keys, solve_weights
from ..core.transfer import Registration, register as register_head, transfer
from .animation import fcurves_of, find_fcurve, remove_fcurves, set_keys
from .capture import rest_coordinates
from .inputs import SetupError, target_mesh
from .running import JobOperator, report_outcome
from .worker import Job, Outcome, active_job

FLAME, MESH, SHAPE_KEYS = "FLAME", "MESH", "SHAPE_KEYS"
STORED = "diffusiontalker_registration"
RIG_TAKE = "diffusiontalker_rig_keys"  # on the Key: the keys the last rig take keyed
RIG_TEETH = "diffusiontalker_rig_teeth"  # on the head's Key: the Lower Teeth the last rig take keyed too
FIT_OF = "diffusiontalker_fit_of"  # on a fit's preview object: the head it shows the fit of
# Row-vector maps from a head's local coordinates into FLAME's frame.
ORIENTATIONS = {"Z_UP": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), "Y_UP": np.eye(3)}


def head_geometry(obj) -> tuple[np.ndarray, list[list[int]]]:
    """The rest shape (the reference key when there are shape keys) and the polygons."""
    return rest_coordinates(obj).astype(np.float64), [list(p.vertices) for p in obj.data.polygons]


def template_path(given: str) -> str:
    path = bpy.path.abspath(given) if given else str(default_region_file("FLAME_sample.ply") or "")
    if not path or not os.path.isfile(path):
        raise SetupError("choose FLAME_sample.ply (with FLAME_masks.json beside it) as the template to fit")
    return os.path.abspath(path)


def flame_template(path: str) -> Template:
    return _template(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _template(path: str, modified: int) -> Template:
    mesh = read_mesh(path)
    masks_path = os.path.join(os.path.dirname(path), "FLAME_masks.json")
    masks = load_regions(masks_path, mesh.num_vertices, required=("lips", "face", "nose"))
    return load_template(mesh.vertices, mesh.faces, masks)


def parse_landmarks(text: str) -> dict[str, int]:
    """``"nose_tip=123, upper_lip=456"`` -> {name: vertex index}."""
    found = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, index = item.partition("=")
        if not index.strip().isdigit():
            raise SetupError(f"landmark '{item}' must read name=vertex index (names: {', '.join(LANDMARKS)})")
        if name.strip() in found:
            raise SetupError(f"landmark {name.strip()} is given twice; give each once")
        found[name.strip()] = int(index)
    return found


def group_landmarks(obj) -> dict[str, int]:
    """Landmarks placed as vertex groups named like them (nose_tip, mouth_left …): each
    group's most weighted vertex."""
    groups = [g for g in obj.vertex_groups if g.name in LANDMARKS]
    weights = group_weights(obj, [g.index for g in groups])
    empty = sorted(g.name for g, row in zip(groups, weights) if not row.any())
    if empty:
        raise SetupError(f"vertex group {', '.join(empty)} of '{obj.name}' holds no vertex; "
                         "assign the landmark's vertex to it or delete the group")
    return {g.name: int(np.argmax(row)) for g, row in zip(groups, weights)}


def group_weights(obj, groups: list[int]) -> np.ndarray:
    """(groups, V) each vertex group's weight of every vertex, 0 outside it: one pass over
    the vertices for them all, since Blender lists a vertex's groups, not a group's vertices."""
    row = {group: i for i, group in enumerate(groups)}
    weights = np.zeros((len(groups), len(obj.data.vertices)))
    if row:
        for vertex in obj.data.vertices:
            for member in vertex.groups:
                if member.group in row:
                    weights[row[member.group], vertex.index] = member.weight
    return weights


def show_fit(obj, registration: Registration, template: Template, axes: np.ndarray) -> bpy.types.Object:
    """A wireframe copy of the fitted template over the head, to judge the fit by eye;
    refitting updates it. An object of that name that is not ours is left alone."""
    name = f"{obj.name} FLAME Fit"
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata((registration.fit.flame @ axes.T).tolist(), [], template.tris.tolist())
    shown = bpy.data.objects.get(name)
    if shown is not None and shown.get(FIT_OF) == obj.name and shown.type == "MESH":
        old, shown.data = shown.data, mesh
        bpy.data.meshes.remove(old)
    else:
        shown = bpy.data.objects.new(name, mesh)
        shown[FIT_OF] = obj.name
        (obj.users_collection[0] if obj.users_collection else bpy.context.scene.collection).objects.link(shown)
    shown.matrix_world = obj.matrix_world.copy()
    shown.display_type = "WIRE"
    shown.hide_render = True
    return shown


def store(obj, registration: Registration, path: str, orientation: str) -> None:
    group = {"template": path, "orientation": orientation}
    for name, array in registration.arrays().items():
        group[name] = array.ravel().tolist()
        group[name + ".shape"] = list(array.shape)
    obj.data[STORED] = group


def stored(obj) -> tuple[Registration, Template, np.ndarray]:
    """(registration, its template, the local -> FLAME axes) of a fitted head."""
    group = obj.data.get(STORED)
    if group is None:
        raise SetupError(f"'{obj.name}' has not been fitted yet: run Fit Head on it first")
    arrays = {k: np.asarray(group[k].to_list()).reshape(tuple(group[k + ".shape"]))
              for k in group.keys() if f"{k}.shape" in group}
    template = flame_template(template_path(group["template"]))
    registration = Registration.from_arrays(arrays, len(obj.data.vertices), len(template.vertices))
    return registration, template, ORIENTATIONS[group["orientation"]]


def on_head(obj, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FLAME offsets -> the fitted head's own, in its local coordinates, and (T, 3) how
    FLAME's chin (``binding.CHIN``) moves there: what a separate lower-teeth object follows."""
    registration, template, axes = stored(obj)
    return transfer(offsets, registration, template) @ axes.T, offsets[:, CHIN] @ registration.fit.linear @ axes.T


def following(head, other, motion: np.ndarray) -> np.ndarray:
    """(T, V, 3) offsets that move every vertex of ``other`` as ``motion`` (T, 3), given
    in ``head``'s local coordinates, moves in the world: each object has its own
    transform (teeth modelled in centimetres, or turned, or parented to the head)."""
    head_to_world = np.array(head.matrix_world.to_3x3())
    world_to_other = np.linalg.inv(np.array(other.matrix_world.to_3x3()))
    moved = np.asarray(motion, np.float64) @ head_to_world.T @ world_to_other.T
    return np.repeat(moved[:, None].astype(np.float32), len(other.data.vertices), axis=1)


def key_effects(obj, names: list[str]) -> dict[str, np.ndarray]:
    """name -> (V, 3) what that shape key at value 1 adds to the face, as Blender shows it:
    its shape against its own relative key (a rig's keys may all sit on a "Neutral" key,
    not the reference), scaled by its vertex group where it has one."""
    blocks = [obj.data.shape_keys.key_blocks[n] for n in names]
    groups = {b.vertex_group: obj.vertex_groups[b.vertex_group].index for b in blocks
              if b.vertex_group in obj.vertex_groups}
    weights = dict(zip(groups, group_weights(obj, list(groups.values()))))
    effects = {}
    for block in blocks:
        co, relative = (np.empty(len(obj.data.vertices) * 3, dtype=np.float32) for _ in range(2))
        block.data.foreach_get("co", co)
        block.relative_key.data.foreach_get("co", relative)
        effect = (co - relative).reshape(-1, 3).astype(np.float64)
        if block.vertex_group in weights:
            effect *= weights[block.vertex_group][:, None]
        effects[block.name] = effect
    return effects


def rig_keys(obj) -> dict[str, str]:
    """The head's shape keys that are ARKit blendshapes or visemes: key name -> standard name."""
    key = obj.data.shape_keys
    if key is None:
        return {}
    return match_keys(b.name for b in key.key_blocks if b != key.reference_key)


def parse_rig_choice(text: str) -> tuple[list[str] | None, dict[str, float]]:
    """``"jawOpen, mouthClose*0.8"`` -> (the keys to drive, or None for all; per-key scales)."""
    allow, scale = [], {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, factor = (x.strip() for x in item.partition("*"))
        try:
            scale[name] = float(factor) if factor else 1.0
        except ValueError:
            raise SetupError(f"rig key '{item}' must read name or name*scale, e.g. mouthClose*0.8") from None
        allow.append(name)
    return (allow or None), scale


def _value_path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def rig_plan(obj, choice: str) -> tuple[list[str], list[str], dict[str, float]]:
    """(keys to drive, keys left alone because the user animates them, scales). Curves an
    earlier rig take wrote (named on the Key) are the take's own, replaced by the next."""
    names = rig_keys(obj)
    if not names:
        raise SetupError(f"'{obj.name}' has no shape keys with ARKit or viseme names (jawOpen, mouthClose, "
                         "mouthSmile_L, aa, PP …) to drive")
    allow, scale = parse_rig_choice(choice)
    unknown = [n for n in allow or () if n not in names]
    if unknown:
        raise SetupError(f"no ARKit or viseme shape key named {', '.join(unknown)} on '{obj.name}' "
                         f"(it has {', '.join(names)})")
    busy = _animated_by_user(obj, names)
    drive = [n for n in names if n not in busy and (allow is None or n in allow)]
    if not drive:
        raise SetupError(f"every rig key chosen on '{obj.name}' is animated already ({', '.join(busy)}); "
                         "delete their curves to let a take drive them")
    return drive, busy, scale


def _animated_by_user(obj, names) -> list[str]:
    """Those of the named keys that have curves an earlier rig take did not write (named on the Key)."""
    ours = set(obj.data.shape_keys.get(RIG_TAKE, []))
    return [n for n in names if n not in ours and find_fcurve(obj.data.shape_keys, _value_path(n))]


def check_target(obj, target: str, choice: str = "", teeth: str = "") -> None:
    """Refuse, before any work, a head (or Lower Teeth) the chosen target cannot use."""
    if target == MESH:
        stored(obj)
    elif target == SHAPE_KEYS:
        rig_plan(obj, choice)
        if teeth:
            rig_teeth_keys(bpy.data.objects[teeth], obj)


def drive_rig(obj, takes: list[tuple[np.ndarray, int]], model_vertices: int,
              choice: str = "", teeth: str = "") -> tuple[list[tuple[int, dict[str, np.ndarray]]], list[str]]:
    """Key the head's rig keys to follow the takes ((offsets, start frame) each: a rig's
    keys hold one set of curves, so the lines of a dialogue are keyed together),
    replacing an earlier rig take's curves (on the Lower Teeth it keyed too, unless
    ``teeth`` names them again, when ``key_teeth`` replaces them); keys the user animates
    are left alone and named in a note. Returns (start frame, weights) of each take, and
    the notes."""
    drive, busy, scale = rig_plan(obj, choice)
    basis_co, faces = head_geometry(obj)
    deltas = key_effects(obj, drive)
    if STORED in obj.data:
        registration, template, axes = stored(obj)
        basis = flame_basis({n: d @ axes for n, d in deltas.items()}, template, registration, (basis_co @ axes, faces))
    elif len(obj.data.vertices) == model_vertices:
        found = default_region_file("FLAME_sample.ply")  # names the face and lips, where there is one
        template = flame_template(str(found)) if found else None
        standing = frame_of(basis_co)  # the keys are FLAME offsets, in the frame the head stands in
        basis = {n: standing.to_flame(d) for n, d in deltas.items()}
    else:
        raise SetupError(f"'{obj.name}' is not of FLAME topology: run Fit Head on it first")
    segments = [(start, solve_weights(offsets, basis, template, scale=scale)) for offsets, start in takes]
    _key_rig(obj, segments)
    before = bpy.data.objects.get(obj.data.shape_keys.get(RIG_TEETH, ""))
    if before is not None and before.name != teeth and before.type == "MESH" and before.data.shape_keys:
        _key_rig(before, [])  # the earlier take's curves go; this take leaves those teeth
    obj.data.shape_keys[RIG_TEETH] = teeth
    return segments, [f"left alone, as they are animated already: {', '.join(busy)}"] if busy else []


def _key_rig(obj, segments: list[tuple[int, dict[str, np.ndarray]]]) -> None:
    """Key these shape keys of ``obj`` ((start frame, key name -> values) per take),
    replacing the curves the last rig take keyed on it (named on its Key)."""
    key = obj.data.shape_keys
    curves = fcurves_of(key, f"{obj.name}ShapeKeys")
    remove_fcurves(key, {_value_path(n) for n in key.get(RIG_TAKE, [])})
    names = list(dict.fromkeys(name for _, weights in segments for name in weights))
    for name in names:
        frames, values = at_rest_around([(start, weights[name]) for start, weights in segments if name in weights])
        set_keys(curves.new(_value_path(name)), frames, values, "LINEAR")
    key[RIG_TAKE] = names


def at_rest_around(pieces: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(frames, values) of one key's curve over takes ((start frame, values) each), with a
    key at rest (0) the frame before and after each: a curve holds its end values beyond
    its keys, so a line cut mid-word kept its mouth open after it, and between two lines
    the face drifted from one to the other. Where takes overlap, the later one is keyed."""
    first = min(start for start, _ in pieces) - 1
    span = np.zeros(max(start + len(values) for start, values in pieces) + 1 - first, dtype=np.float32)
    held = np.zeros(len(span), dtype=bool)
    for start, values in pieces:
        span[start - first:start - first + len(values)] = values
        held[start - first:start - first + len(values)] = True
    keyed = held | np.roll(held, 1) | np.roll(held, -1)  # the ends are at rest, so the roll wraps nothing in
    return (first + np.flatnonzero(keyed)).astype(np.float32), span[keyed]


def rig_teeth_keys(teeth, head) -> dict[str, str]:
    """Lower Teeth on a shape-key rig: the teeth's keys that mean what a key of the head
    means (jawOpen and jawOpen, or Jaw_Open), teeth key -> head key, as Ready Player Me's
    and other ARKit avatars give their teeth the head's keys. Refused if there are none."""
    head_keys = {standard: name for name, standard in rig_keys(head).items()}
    alike = {name: head_keys[standard] for name, standard in rig_keys(teeth).items() if standard in head_keys}
    if not alike:
        raise SetupError(f"Lower Teeth '{teeth.name}' has none of the head's ARKit or viseme shape keys to key "
                         "with them; give it keys of the same names (jawOpen …), or use it on another target")
    return alike


def key_teeth(teeth, alike: dict[str, str], segments: list[tuple[int, dict[str, np.ndarray]]]) -> list[str]:
    """Key the teeth's keys as the head's of the same meaning (``alike``, from
    ``rig_teeth_keys``) were keyed (``segments``, from ``drive_rig``); the teeth's keys the
    user animates are left alone, as the head's are. Returns notes."""
    alike = {name: head for name, head in alike.items() if head in segments[0][1]}
    busy = _animated_by_user(teeth, alike)
    _key_rig(teeth, [(start, {name: weights[head] for name, head in alike.items() if name not in busy})
                     for start, weights in segments])
    return [f"'{teeth.name}': left alone, as they are animated already: {', '.join(busy)}"] if busy else []


class DIFFUSIONTALKER_OT_fit_head(JobOperator, bpy.types.Operator):
    """Fit the FLAME template onto the active head (any topology) so takes can land on it; kept with the head"""

    bl_idname = "diffusiontalker.fit_head"
    bl_label = "Fit Head"
    bl_options = {"REGISTER", "UNDO"}

    template: StringProperty(
        name="Template", subtype="FILE_PATH", options={"SKIP_SAVE"},
        description="FLAME_sample.ply, with FLAME_masks.json beside it; empty uses the copy beside a source checkout")
    orientation: EnumProperty(
        name="Orientation", default="Z_UP", options={"SKIP_SAVE"},
        items=[("Z_UP", "Z Up, Facing -Y", "The head stands as Blender's front view shows it"),
               ("Y_UP", "Y Up, Facing +Z", "A FLAME file imported as it is")],
        description="How the head stands in its own (local) coordinates")
    landmarks: StringProperty(
        name="Landmarks", options={"SKIP_SAVE"},
        description="Optional head vertices, e.g. 'nose_tip=812, mouth_left=90, mouth_right=77, upper_lip=5, "
                    "lower_lip=6' (or vertex groups of those names); the nose tip is found by itself on a "
                    "human-proportioned head")
    show: BoolProperty(
        name="Show Fit", default=True, options={"SKIP_SAVE"},
        description="Add (or update) a wireframe object showing the fitted template over the head")

    @classmethod
    def poll(cls, context):
        return active_job() is None

    def start(self, context, wait: bool) -> set[str]:
        try:
            obj = target_mesh(context)
            path = template_path(self.template)
            template = flame_template(path)
            vertices, faces = head_geometry(obj)
            axes = ORIENTATIONS[self.orientation]
            marks = {**group_landmarks(obj), **parse_landmarks(self.landmarks)}
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._fit = (obj.name, path, template, axes, len(vertices))

        def work(job: Job, progress) -> Outcome:
            progress(0, 1, f"Fitting {obj.name}…")
            standing = vertices @ axes
            registration = register_head(template, standing, faces, marks)
            gap = face_gap(template, registration.fit, standing, faces)
            check_cancel(job.cancel_event)
            return Outcome(result=(registration, gap))

        return self.run_job(context, Job(work), f"Fitting {obj.name}…", wait)

    def finish(self, context, outcome) -> set[str]:
        refused = report_outcome(self, outcome)
        if refused is not None:
            return refused
        name, path, template, axes, count = self._fit
        try:
            obj = target_mesh(context, name)  # the head, even if the user selected another meanwhile
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        registration, gap = outcome.result
        store(obj, registration, path, self.orientation)
        if self.show:
            show_fit(obj, registration, template, axes)
        bound = int((registration.binding.reach > 0).sum())
        said = (f"'{obj.name}' fitted: {bound} of {count} vertices follow the face, which the template meets "
                f"within {1000 * gap:.1f} mm (median, at FLAME's size)")
        if gap > POOR_FIT_M:  # a stylised head, or one the automatic nose tip misled
            self.report({"WARNING"}, f"{said}: loosely (under 2 mm on heads it fits well); check the wireframe "
                                     "fit, and give landmarks if the face is misplaced")
        else:
            self.report({"INFO"}, said)
        return {"FINISHED"}


register, unregister = bpy.utils.register_classes_factory((DIFFUSIONTALKER_OT_fit_head,))
