"""Face + voice pairs for multimodal fusion: one run directory per branch, keyed by pair id.

PSEUDO-PAIRS (no paired face+voice recordings ship with this project): every RAVDESS clip of the
audio run's validation and test actors is paired with a FER2013 face of the same FER7 label
(validation clips <- PublicTest faces, test clips <- PrivateTest faces), drawn without replacement
with a fixed seed. Each branch's *existing* artifact rows are re-keyed by pair id, so the fusion
itself is done by ``fer ensemble fuse``. Voice and face are from different people, so the pairs
measure how complementary the branches' errors are, not real audio-visual performance; every
output is named and labelled "pseudo-pairs".

REAL PAIRS: a CSV manifest ``sample_id, face, audio, label[, split]`` (paths relative to the
manifest) of truly paired recordings (e.g. RAVDESS video frames + audio, CREMA-D). The face,
landmark and audio predictors run on the files; a file a branch cannot score is marked absent for
that branch. ``split`` is ``validation`` (fusion weights are fit on it) or ``test`` (default).

Every artifact is mapped to FER7 (probabilities of classes sharing a FER7 name are summed, e.g.
calm + neutral); pair labels are FER7 labels.
"""

from __future__ import annotations

import csv
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.errors import ArtifactError, DataError, UserError
from fer_core.labels import FER7, canonical_emotion
from fer_core.report import build_metrics
from fer_audio.labels import TO_FER7

PSEUDO_DATASET = "pseudo-pairs"
PAIR_SPLITS = ("validation", "test")
FACE_SOURCE_SPLIT = {"validation": "PublicTest", "test": "PrivateTest"}  # FER2013 split feeding each pair split
AUDIO_SOURCE_SPLIT = {"validation": "validation", "test": "test"}
PSEUDO_NOTE = ("PSEUDO-PAIRS: voice (RAVDESS actor) and face (FER2013) come from different people, paired only by "
               "label; they measure how complementary the branches' errors are, not real audio-visual accuracy")
MANIFEST_COLUMNS = {"sample_id": ("sample_id", "id"), "face": ("face", "face_path", "image"),
                    "audio": ("audio", "audio_path", "clip"), "label": ("label", "emotion")}


@dataclass(frozen=True)
class Pair:
    pair_id: str
    split: str
    label: int  # index into FER7
    audio_id: str
    face_id: str


# ------------------------------------------------------------------------------------- label maps
def fer7_name(label: str) -> str | None:
    """A branch label's FER7 name: RAVDESS names (calm -> neutral) and known spellings; None if none."""
    return TO_FER7.get(label) or canonical_emotion(label)


def to_fer7(preds: Predictions, source: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(probs, logits, labels) of an artifact in FER7 columns.

    Probabilities of classes with the same FER7 name are summed; logits are merged so that
    ``softmax(logits / T)`` equals those probabilities (T * logsumexp(z / T) over the group).
    Classes without a FER7 counterpart are dropped and the rest renormalised.
    """
    from scipy.special import logsumexp

    targets = [fer7_name(n) for n in preds.label_space]
    if not any(targets):
        raise ArtifactError(f"{source}: no class of {list(preds.label_space)} maps onto FER7")
    probs = np.zeros((preds.n, len(FER7)))
    logits = None if preds.logits is None else np.full((preds.n, len(FER7)), -np.inf)
    for j, t in enumerate(targets):
        if t is None:
            continue
        k = FER7.index(t)
        probs[:, k] += preds.probs[:, j]
        if logits is not None:
            logits[:, k] = preds.temperature * logsumexp(
                np.stack([logits[:, k] / preds.temperature, preds.logits[:, j] / preds.temperature]), axis=0)
    total = probs.sum(1, keepdims=True)
    probs = np.divide(probs, total, out=np.full_like(probs, np.nan), where=total > 0)
    if logits is not None:
        # classes no branch class maps to get a large negative logit (probability ~0) instead of -inf
        logits = np.where(np.isfinite(logits), logits, np.nan_to_num(logits, neginf=-1e4))
    labels = np.asarray([FER7.index(targets[y]) if y >= 0 and targets[y] else -1 for y in preds.labels])
    return probs, logits, labels


# ---------------------------------------------------------------------------------- pseudo-pairing
def draw_pseudo_pairs(clips: dict[str, tuple[Sequence[str], Sequence[int]]],
                      faces: dict[str, tuple[Sequence[str], Sequence[int]]], seed: int) -> list[Pair]:
    """Pair each clip (ids, FER7 labels per split) with a face of the same label from ``faces[split]``.

    Deterministic: candidates are sorted by id and drawn without replacement (with replacement only if
    a label has more clips than faces) from ``default_rng([seed, split number, label])``.
    """
    pairs: list[Pair] = []
    for s_no, split in enumerate(PAIR_SPLITS):
        clip_ids, clip_labels = (np.asarray(a) for a in clips[split])
        face_ids, face_labels = (np.asarray(a) for a in faces[split])
        for label in range(len(FER7)):
            members = np.sort(clip_ids[clip_labels == label])
            if len(members) == 0:
                continue
            pool = np.sort(face_ids[face_labels == label])
            if len(pool) == 0:
                raise DataError(f"no {FER7[label]} faces in the face run's {FACE_SOURCE_SPLIT[split]} split to pair "
                                f"with {len(members)} {FER7[label]} clips")
            rng = np.random.default_rng([seed, s_no, label])
            chosen = rng.choice(len(pool), size=len(members), replace=len(members) > len(pool))
            for clip, j in zip(members, chosen):
                pairs.append(Pair(f"pseudo-pair/{clip}/{pool[j]}", split, label, str(clip), str(pool[j])))
    return sorted(pairs, key=lambda p: (PAIR_SPLITS.index(p.split), p.pair_id))


def rekey(preds: Predictions, ids: Sequence[str], pairs: Sequence[Pair], *, split: str, dataset: str,
          command: str, extra: dict[str, Any], fit_splits: list[str], calibration_split: str | None,
          source: str) -> Predictions:
    """The rows of ``preds`` for ``ids`` (one per pair, in FER7), keyed by pair id; ids not in ``preds``
    are absent. Refuses rows whose label disagrees with the pair's."""
    probs, logits, labels = to_fer7(preds, source)
    row_of = {sid: i for i, sid in enumerate(preds.ids)}
    n = len(pairs)
    out_p = np.full((n, len(FER7)), np.nan)
    out_z = None if logits is None else np.full((n, len(FER7)), np.nan)
    present = np.zeros(n, bool)
    for k, (sid, pair) in enumerate(zip(ids, pairs)):
        i = row_of.get(sid)
        if i is None:
            continue
        if labels[i] >= 0 and labels[i] != pair.label:
            raise ArtifactError(f"{source}: sample {sid!r} is labelled {FER7[labels[i]]!r} but its pair "
                                f"{pair.pair_id!r} is {FER7[pair.label]!r}; the artifact does not match the pairing")
        if preds.present[i] and np.isfinite(probs[i]).all():
            present[k] = True
            out_p[k] = probs[i]
            if out_z is not None:
                out_z[k] = logits[i]
    return Predictions(
        ids=[p.pair_id for p in pairs], labels=[p.label for p in pairs], probs=out_p, logits=out_z, present=present,
        label_space=FER7, branch=preds.branch, modality=preds.modality, dataset=dataset, split=split,
        temperature=preds.temperature, calibration_split=calibration_split, fit_splits=fit_splits, command=command,
        # the calibration still maps these logits onto these probabilities only when no classes were merged
        calibration=preds.calibration if tuple(preds.label_space) == FER7 else None,
        extra={**extra, "source_branch": preds.branch, "source_dataset": preds.dataset, "source_split": preds.split,
               "source_label_space": list(preds.label_space), "source_command": preds.command},
    )


# ------------------------------------------------------------------------------------------ output
def prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out}: exists and is not empty; pass --overwrite to replace it or choose another --out")
        shutil.rmtree(out)


def write_branch_dir(out: Path, name: str, arts: dict[str, Predictions], info: dict[str, Any]) -> dict[str, Any]:
    """One run directory: predictions/<split>.json, config.json and metrics.json (on the test split)."""
    run = out / name
    for split, art in arts.items():
        art.save(artifact_path(run, split))
    atomic.write_json(run / "config.json", {**info, "branch": arts["test"].branch, "splits": list(arts)})
    keep = arts["test"].present & (arts["test"].labels >= 0)
    metrics = build_metrics(arts["test"], extra={"dataset_note": info.get("note")}) if keep.any() else None
    if metrics is not None:
        atomic.write_json(run / "metrics.json", metrics)
    return {"branch": arts["test"].branch, "dir": str(run), "accuracy": None if metrics is None else metrics["accuracy"],
            "macro_f1": None if metrics is None else metrics["macro_f1"], "ece": None if metrics is None else metrics["ece"],
            "n": int(arts["test"].n), "present": int(arts["test"].present.sum())}


def write_pairs_table(out: Path, pairs: Sequence[Pair], name: str) -> None:
    rows = ["pair_id,split,label,audio_id,face_id"] + [
        f"{p.pair_id},{p.split},{FER7[p.label]},{p.audio_id},{p.face_id}" for p in pairs]
    atomic.write_text(out / name, "\n".join(rows) + "\n")


def fuse_command(out: Path, names: Sequence[str]) -> str:
    branches = " ".join(f"--branch {out / n}" for n in names)
    return f"fer ensemble fuse {branches} --fit-split validation --eval-split test --out {out / 'fusion'}"


def write_summary(out: Path, title: str, note: str, rows: dict[str, dict[str, Any]], names: Sequence[str],
                  counts: dict[str, int]) -> None:
    lines = [f"# {title}", "", f"> {note}", "", "Pairs: " + ", ".join(f"{s} {n}" for s, n in counts.items()), "",
             "| branch (alone, test split) | run dir | n | present | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|---|---|"]
    for name in names:
        r = rows[name]
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2%}"
        f1 = "-" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
        ece = "-" if r["ece"] is None else f"{r['ece']:.2%}"
        lines.append(f"| {r['branch']} | {name}/ | {r['n']} | {r['present']} | {acc} | {f1} | {ece} |")
    lines += ["", "Fuse with:", "", "    " + fuse_command(out, names), ""]
    atomic.write_text(out / "README.md", "\n".join(lines))
    atomic.write_json(out / "summary.json", {"title": title, "note": note, "pairs": counts, "branches": rows,
                                             "fuse_command": fuse_command(out, names)})


# ------------------------------------------------------------------------------------ pseudo-pairs
def build_pseudo_pairs(out: Path, *, audio_run: Path, face_run: Path, landmark_run: Path | None, seed: int,
                       command: str, overwrite: bool = False) -> dict[str, Any]:
    """Write OUT/{face,landmarks,audio}/ over pseudo-pairs, OUT/pseudo-pairs.csv, OUT/README.md, OUT/summary.json."""
    audio = {s: load_run(audio_run, AUDIO_SOURCE_SPLIT[s]) for s in PAIR_SPLITS}
    face = {s: load_run(face_run, FACE_SOURCE_SPLIT[s]) for s in PAIR_SPLITS}
    landmarks = {s: load_run(landmark_run, FACE_SOURCE_SPLIT[s]) for s in PAIR_SPLITS} if landmark_run else None
    clips, faces = {}, {}
    for s in PAIR_SPLITS:
        _, _, clip_labels = to_fer7(audio[s], str(artifact_path(audio_run, audio[s].split)))
        keep = clip_labels >= 0
        clips[s] = (audio[s].ids[keep], clip_labels[keep])
        _, _, face_labels = to_fer7(face[s], str(artifact_path(face_run, face[s].split)))
        keep = face_labels >= 0
        faces[s] = (face[s].ids[keep], face_labels[keep])
    pairs = draw_pseudo_pairs(clips, faces, seed)
    prepare_out(out, overwrite)
    common = {"pseudo_pairs": True, "note": PSEUDO_NOTE, "seed": seed}
    sources = {"audio": (audio_run, audio, "audio_id"), "face": (face_run, face, "face_id")}
    if landmarks is not None:
        sources["landmarks"] = (landmark_run, landmarks, "face_id")
    rows = {}
    for name, (run, arts, key) in sources.items():
        out_arts = {}
        for s in PAIR_SPLITS:
            sp = [p for p in pairs if p.split == s]
            out_arts[s] = rekey(arts[s], [getattr(p, key) for p in sp], sp, split=s, dataset=PSEUDO_DATASET,
                                command=command, fit_splits=["train", "validation"], calibration_split="validation",
                                extra={**common, "source_run": str(run)}, source=str(artifact_path(run, arts[s].split)))
        rows[name] = write_branch_dir(out, name, out_arts, {"dataset": PSEUDO_DATASET, "note": PSEUDO_NOTE,
                                                            "command": command, "source_run": str(run), "seed": seed})
    write_pairs_table(out, pairs, "pseudo-pairs.csv")
    counts = {s: sum(p.split == s for p in pairs) for s in PAIR_SPLITS}
    names = [n for n in ("face", "landmarks", "audio") if n in rows]
    write_summary(out, "Face + voice PSEUDO-PAIRS (RAVDESS clips x FER2013 faces)", PSEUDO_NOTE, rows, names, counts)
    return {"pairs": counts, "branches": rows, "fuse_command": fuse_command(out, names)}


# ------------------------------------------------------------------------------------ real manifest
@dataclass(frozen=True)
class ManifestRow:
    sample_id: str
    face: Path
    audio: Path
    label: int
    split: str


def read_manifest(path: Path) -> list[ManifestRow]:
    """Parse and check every row first: an unreadable row is a one-line DataError naming its row number."""
    if not path.is_file():
        raise DataError(f"{path}: manifest not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the manifest ({e.__class__.__name__}); save it as UTF-8 CSV") from None
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: empty manifest; expected a header sample_id,face,audio,label[,split]") from None
    cols: dict[str, int] = {}
    for key, names in MANIFEST_COLUMNS.items():
        hit = [i for i, h in enumerate(header) if h in names]
        if not hit:
            raise DataError(f"{path}: missing column {key!r} (header: {','.join(header)}); "
                            "expected sample_id,face,audio,label[,split]")
        cols[key] = hit[0]
    split_col = header.index("split") if "split" in header else None
    rows, seen = [], set()
    for row_no, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{path} row {row_no}"
        need = max(cols.values()) if split_col is None else max(*cols.values(), split_col)
        if len(row) <= need:
            raise DataError(f"{where}: {len(row)} field(s), expected {len(header)} ({','.join(header)})")
        sid, face, audio, label = (row[cols[k]].strip() for k in ("sample_id", "face", "audio", "label"))
        if not sid or not face or not audio:
            raise DataError(f"{where}: empty sample_id, face or audio field")
        if sid in seen:
            raise DataError(f"{where}: sample_id {sid!r} occurs twice")
        seen.add(sid)
        name = fer7_name(label.lower())
        if name is None:
            raise DataError(f"{where}: label {label!r} is not an emotion this platform knows ({', '.join(FER7)}, calm)")
        split = row[split_col].strip().lower() if split_col is not None and row[split_col].strip() else "test"
        if split not in PAIR_SPLITS:
            raise DataError(f"{where}: split {split!r}; use validation or test")
        rows.append(ManifestRow(sid, path.parent / face, path.parent / audio, FER7.index(name), split))
    if not rows:
        raise DataError(f"{path}: the manifest has a header but no rows")
    return rows


def score_files(paths: Sequence[Path], score: Callable[[Path], tuple[np.ndarray | None, Sequence[str], str | None]],
                what: str, progress: bool) -> tuple[list[np.ndarray | None], tuple[str, ...], list[str]]:
    """Run ``score`` (a file -> its logits) over files; a file it cannot score is None (absent) with a warning, never
    dropped."""
    from tqdm.auto import tqdm

    scores, space, problems = [], (), []
    for p in tqdm(paths, desc=what, unit="file", disable=not progress, mininterval=0.5, file=sys.stderr):
        try:
            pr, sp, reason = score(p)
        except DataError as e:
            pr, sp, reason = None, (), str(e)
        if pr is None:
            problems.append(f"{p}: {reason}")
        else:
            space = tuple(sp)
        scores.append(pr)
    return scores, space, problems


def build_manifest_pairs(out: Path, manifest: Path, *, audio_run: Path, face_run: Path, landmark_run: Path | None,
                         command: str, device: str = "auto", overwrite: bool = False,
                         progress: bool = True) -> dict[str, Any]:
    """Run each branch's predictor on the manifest's files; write OUT/{face,landmarks,audio}/ keyed by sample_id."""
    rows = read_manifest(manifest)
    # the predictors load torch, timm and dlib: only the command that scores files pays for them
    from fer_face.faces import load_image
    from fer_face.predict import FaceModel, face_crops
    from fer_audio.predict import AudioPredictor

    dataset = f"paired:{manifest.stem}"
    audio_pred = AudioPredictor.from_run(audio_run, device="cpu" if device == "auto" else device)

    def score_audio(p: Path):
        r = audio_pred.predict_file(p, strict=False)
        return (np.asarray(r["logits"]) if r["present"] else None), audio_pred.label_space, r.get("error")

    face_pred = FaceModel.from_run(face_run, device=device)

    def score_face(p: Path):
        found = face_crops(load_image(p))  # the most confident face, as FaceModel.predict takes it
        if not found:
            return None, face_pred.label_space, "no face found"
        return face_pred.logits_crops(found[0].pixels[None])[0], face_pred.label_space, None

    # name -> (file -> logits, which file of the row, branch, calibrator): artifacts keep logits and calibration,
    # so a fusion fit on them combines the same inputs (Predictions.fusion_input) as the photo and video paths
    scorers: dict[str, tuple[Callable, str, str, Any]] = {
        "audio": (score_audio, "audio", audio_pred.branch, audio_pred.calibrator),
        "face": (score_face, "face", face_pred.branch, face_pred.calibrator)}
    if landmark_run is not None:
        from fer_face.landmarks.predict import LandmarkPredictor

        lm_pred = LandmarkPredictor.from_run(landmark_run)

        def score_landmarks(p: Path):
            r = lm_pred.predict_image(load_image(p))
            return r["logits"], r["label_space"], r.get("reason")

        scorers["landmarks"] = (score_landmarks, "face", "landmarks", lm_pred.calibrator)
    prepare_out(out, overwrite)
    note = f"truly paired samples from {manifest}"
    pairs = [Pair(r.sample_id, r.split, r.label, str(r.audio), str(r.face)) for r in rows]
    summary = {}
    for name, (score, file_key, branch, calibrator) in scorers.items():
        files = [r.audio if file_key == "audio" else r.face for r in rows]
        logits, space, problems = score_files(files, score, f"{name} predictions", progress)
        for msg in problems:
            print(f"warning: {name}: {msg} (marked absent)", file=sys.stderr)
        if not space:
            space = FER7
        z = np.array([np.asarray(v, np.float64) if v is not None else np.full(len(space), np.nan) for v in logits])
        src = Predictions(ids=[r.sample_id for r in rows], labels=np.full(len(rows), -1), logits=z,
                          probs=calibrator.probs(z), present=[v is not None for v in logits], label_space=space,
                          branch=branch, modality="audio" if name == "audio" else name, dataset=dataset, split="all",
                          temperature=calibrator.temperature, calibration=calibrator.artifact_field())
        arts = {}
        for s in PAIR_SPLITS:
            sp = [p for p in pairs if p.split == s]
            if sp:
                arts[s] = rekey(src, [p.pair_id for p in sp], sp, split=s, dataset=dataset, command=command,
                                fit_splits=[], calibration_split=None, source=name,
                                extra={"note": note, "source_run": str({"audio": audio_run, "face": face_run,
                                                                        "landmarks": landmark_run}[name]),
                                       "unscorable": problems[:50]})
        if "test" not in arts:
            raise DataError(f"{manifest}: no rows with split 'test' (rows without a split column are test)")
        summary[name] = write_branch_dir(out, name, arts, {"dataset": dataset, "note": note, "command": command,
                                                           "manifest": str(manifest)})
    write_pairs_table(out, pairs, "pairs.csv")
    counts = {s: sum(p.split == s for p in pairs) for s in PAIR_SPLITS}
    names = [n for n in ("face", "landmarks", "audio") if n in summary]
    write_summary(out, f"Face + voice pairs from {manifest.name}", note, summary, names, counts)
    return {"pairs": counts, "branches": summary, "fuse_command": fuse_command(out, names)}


def pairs_cli(args) -> int:
    if args.manifest is not None:
        result = build_manifest_pairs(args.out, args.manifest, audio_run=args.audio_run, face_run=args.face_run,
                                      landmark_run=args.landmark_run, command=args.command_line, device=args.device,
                                      overwrite=args.overwrite)
    else:
        result = build_pseudo_pairs(args.out, audio_run=args.audio_run, face_run=args.face_run,
                                    landmark_run=args.landmark_run, seed=args.seed, command=args.command_line,
                                    overwrite=args.overwrite)
    print((args.out / "README.md").read_text(), file=sys.stderr)
    print(result["fuse_command"])
    return 0
