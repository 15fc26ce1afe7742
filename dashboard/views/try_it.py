"""Try it: a face photo (uploaded, generated, or a random PrivateTest image) and/or a speech clip through
every trained branch, their calibrated probabilities, the fused prediction and the 68 landmarks."""

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from dashboard import charts, live, state, uploads
from fer_core.errors import UserError
from fer_core.labels import FER7

results = state.current_results()
st.title("Try it")
st.caption("Uploads stay on this machine: photos are decoded in memory, a clip lives in a private temporary "
           f"folder while it is scored. Limits: images {uploads.MAX_IMAGE_MB} MB / "
           f"{uploads.MAX_IMAGE_PIXELS // 1_000_000} megapixels ({', '.join(uploads.IMAGE_TYPES)}), clips "
           f"{uploads.MAX_AUDIO_MB} MB / {uploads.MAX_AUDIO_SECONDS:.0f} s ({', '.join(uploads.AUDIO_TYPES)}).")

UPLOAD, SYNTHETIC, PRIVATE = "Upload a photo", "Generated example face", "Random PrivateTest image"
fer_source = live.fer2013_source()
sources = [UPLOAD, SYNTHETIC] + ([PRIVATE] if fer_source else [])

inputs, speech = st.columns(2)
image, true_label = None, None
with inputs:
    st.subheader("Face")
    source = st.radio("Image", sources, horizontal=True, key="tryit_source")
    if not fer_source:
        st.caption("A random PrivateTest image is offered when FER2013 is present (set FER_DATA_ROOT to the folder "
                   "holding fer2013.zip).")
    if source == UPLOAD:
        upload = st.file_uploader("Face photo", type=list(uploads.IMAGE_TYPES), key="tryit_image",
                                  max_upload_size=uploads.MAX_IMAGE_MB)
        if upload is not None:
            try:
                image = uploads.open_image(upload.getvalue())
            except uploads.UploadError as e:
                st.error(f"Image refused: {e}")
    elif source == SYNTHETIC:
        label = st.selectbox("Emotion drawn", range(len(FER7)), format_func=FER7.__getitem__, key="tryit_synth_label")
        seed = st.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1, key="tryit_synth_seed")
        image, true_label = live.synthetic_face(label, int(seed)), FER7[label]
        st.caption("A face from the synthetic smoke set's generator - a drawing, not a photo; models trained on "
                   "FER2013 are not expected to read it well.")
    else:
        try:
            images, labels, ids = live.private_test(fer_source)
        except UserError as e:
            st.error(f"Cannot read FER2013 from {fer_source}: {e}")
            images = None
        if images is not None:
            if st.button("Another random image", key="tryit_shuffle") or "tryit_index" not in st.session_state:
                st.session_state["tryit_index"] = int(np.random.default_rng().integers(len(ids)))
            i = st.session_state["tryit_index"] % len(ids)
            image, true_label = Image.fromarray(images[i]), FER7[int(labels[i])]
            st.caption(f"`{ids[i]}` (true label: **{true_label}**)")

with speech:
    st.subheader("Speech")
    clip_upload = st.file_uploader("Speech clip", type=list(uploads.AUDIO_TYPES), key="tryit_clip",
                                   max_upload_size=uploads.MAX_AUDIO_MB)

outputs: list[live.Output] = []
notes: list[str] = []
if image is not None:
    face_outs, note = live.face_outputs(results, image)
    lm_outs, shape, lm_note = live.landmark_outputs(results, image)
    outputs += face_outs + lm_outs
    notes += [n for n in (note,) if n]
    shown, overlay = st.columns(2)
    display = image.resize((240, round(240 * image.height / image.width)), Image.Resampling.NEAREST) \
        if image.width < 240 else image
    shown.image(display, caption="input" + (f" (true label: {true_label})" if true_label else ""), width=240)
    if shape is not None:
        try:
            overlay.image(live.draw_landmarks(image, shape), caption="68 landmarks", width=240)
        except ModuleNotFoundError as e:
            overlay.info(live.missing_module_note(e, "the landmark overlay (fer_face.landmarks.overlay)"))
    elif lm_note:
        overlay.info(f"Landmarks not shown: {lm_note}")
    for o in face_outs:
        crop = o.extra.get("crop")
        if crop is not None:
            with st.expander(f"face crop seen by {o.source}"):
                st.image(np.asarray(crop), width=144)

if clip_upload is not None:
    try:
        with uploads.audio_file(clip_upload.getvalue(), clip_upload.name) as clip_path:
            speech.audio(clip_upload.getvalue())
            audio_outs, note = live.audio_outputs(results, clip_path)
        outputs += audio_outs
        notes += [n for n in (note,) if n]
    except uploads.UploadError as e:
        speech.error(f"Clip refused: {e}")

if image is None and clip_upload is None:
    st.info("Choose a face image and/or upload a speech clip to see each branch's calibrated probabilities and "
            "the fused prediction.")
else:
    outputs += live.fused_outputs(results, outputs)
    for n in notes:
        st.info(n)
    if outputs:
        st.subheader("Predictions")
        summary = pd.DataFrame([{
            "source": o.source, "modality": o.modality, "prediction": o.predicted or "—",
            "confidence": float(np.max(o.probs)) if o.probs is not None else np.nan,
            "note": o.note or "",
        } for o in outputs]).set_index("source")
        st.dataframe(summary.style.format({"confidence": lambda v: "—" if pd.isna(v) else f"{v:.1%}"}),
                     placeholder="—", key="tryit_summary")
        scored = [o for o in outputs if o.probs is not None]
        for space in dict.fromkeys(o.label_space for o in scored):  # one chart per label space (FER7, RAVDESS ...)
            st.altair_chart(charts.probability_bars(live.as_frame([o for o in scored if o.label_space == space])))
        st.caption("Calibrated probabilities (each branch's temperature applied); the fusion combines the branches "
                   "that produced a prediction with the weights it learned on the calibration split.")
