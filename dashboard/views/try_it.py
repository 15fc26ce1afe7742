"""Try it: a photo (the sample, an upload, the camera, or a PrivateTest face), a speech clip (an upload or a
microphone recording) and a video through the published
models (or trained runs): the face box and landmarks, each branch's calibrated probabilities and the fused ones, and
for a video the fused emotions over time (``fer predict VIDEO``'s pipeline) with a few annotated frames."""

import numpy as np
import streamlit as st
from PIL import Image

from dashboard import charts, live, state, uploads
from fer_core.labels import FER7

st.title("Try it")
st.caption("Uploads stay on this machine: photos are decoded in memory, a clip or video lives in a private "
           f"temporary folder while it is scored. Limits: images {uploads.MAX_IMAGE_MB} MB / "
           f"{uploads.MAX_IMAGE_PIXELS // 1_000_000} megapixels ({', '.join(uploads.IMAGE_TYPES)}), clips "
           f"{uploads.MAX_AUDIO_MB} MB / {uploads.MAX_AUDIO_SECONDS:.0f} s ({', '.join(uploads.AUDIO_TYPES)}), "
           f"videos {uploads.MAX_VIDEO_MB} MB / {uploads.MAX_VIDEO_SECONDS:.0f} s / {uploads.MAX_VIDEO_SIDE} px a side "
           f"({', '.join(uploads.VIDEO_TYPES)}).")

manifest, manifest_note = live.load_manifest()
if manifest_note:
    st.warning(manifest_note)
runs = live.nearby_runs(state.results_root())


def choose(container, label: str, options: list[live.ModelOption], default: str | None, key: str,
           extra: tuple[str, ...] = ()) -> str | None:
    """A selectbox of model sources; None when nothing is chosen (no default and no pick)."""
    sources = [o.source for o in options] + list(extra)
    labels = {o.source: o.label for o in options} | {live.NONE: "none"}
    index = sources.index(default) if default in sources else None
    return container.selectbox(label, sources, index=index, format_func=labels.get, key=key,
                               placeholder="pick a trained run")


models = st.expander("Models")
models.caption(f"The published defaults are preselected. Published models are listed by `fer models list` (`{live.manifest_path(manifest)}`); runs under "
               f"`{state.results_root()}` or the `runs/` folder beside it are offered when their weights are on disk.")
face_source = choose(models, "Face model", live.model_options("face", manifest, runs),
                     live.default_model("face", manifest), "tryit_face_model")
landmark_source = choose(models, "Landmark model", live.model_options("landmarks", manifest, runs),
                         live.default_model("landmarks", manifest) or live.NONE, "tryit_landmark_model",
                         extra=(live.NONE,))
speech_source = choose(models, "Speech model", live.model_options("audio", manifest, runs),
                       live.default_model("audio", manifest), "tryit_speech_model")

predictor, predictor_note = None, None
if face_source is None:
    predictor_note = live.no_model_note("face", manifest)
else:
    predictor, predictor_note = live.photo_models(face_source, landmark_source or live.NONE, manifest)
if predictor is not None:
    offered, others = live.fusion_options(predictor, manifest, runs)
    by_source = {o.source: o for o in offered}
    fusion_sources = list(by_source) + [live.NONE]
    fusion_source = models.selectbox(
        "Fusion", fusion_sources, index=fusion_sources.index(live.default_fusion(offered, manifest)),
        format_func=lambda s: by_source[s].label if s in by_source else "none", key="tryit_fusion",
        help="Only fusions whose every member is one of the loaded models, as the exact run it was fit on.")
    if others:
        models.caption(f"Not offered ({len(others)}), not fit on exactly the loaded runs: "
                       + ", ".join(f"`{o}`" for o in others[:6]) + (" ..." if len(others) > 6 else ""))
    predictor, predictor_note = live.with_fusion(predictor, by_source.get(fusion_source))


# ------------------------------------------------------------------------------------------------- photo
st.subheader("Photo")
SAMPLE, UPLOAD, CAMERA, PRIVATE = "Sample photo", "Upload a photo", "Camera", "Random PrivateTest image"
fer_source = live.fer2013_source()
source = st.radio("Image", [SAMPLE, UPLOAD, CAMERA] + ([PRIVATE] if fer_source else []), horizontal=True,
                  key="tryit_source")
image, caption = None, ""
if source == SAMPLE:
    image = live.sample_photo()
    caption = "scikit-image's astronaut photo (Eileen Collins, NASA, public domain)"
    if image is None:
        st.info("The sample photo comes with scikit-image (`pip install scikit-image`); upload a photo instead.")
elif source == UPLOAD:
    upload = st.file_uploader("Face photo", type=list(uploads.IMAGE_TYPES), key="tryit_image",
                              max_upload_size=uploads.MAX_IMAGE_MB)
    if upload is not None:
        try:
            image, caption = uploads.open_image(upload.getvalue()), "your photo"
        except uploads.UploadError as e:
            st.error(f"Image refused: {e}")
elif source == CAMERA:
    shot = st.camera_input("Look at the camera", key="tryit_camera")  # the browser asks for the camera first
    if shot is not None:
        try:
            image, caption = uploads.open_image(shot.getvalue()), "your camera"
        except uploads.UploadError as e:
            st.error(f"Image refused: {e}")
else:
    try:
        images, labels, ids = live.private_test(fer_source)
    except Exception as e:
        st.error(f"Cannot read FER2013 from {fer_source}: {live.describe(e)}")
    else:
        if st.button("Another random image", key="tryit_shuffle") or "tryit_index" not in st.session_state:
            st.session_state["tryit_index"] = int(np.random.default_rng().integers(len(ids)))
        i = st.session_state["tryit_index"] % len(ids)
        image, caption = Image.fromarray(images[i]), f"`{ids[i]}`, true label: {FER7[int(labels[i])]}"

if image is not None:
    face, face_note = (None, predictor_note) if predictor is None else live.predict_face(predictor, image)
    if face is None:
        st.image(image, caption=caption, width=320)
        st.info(face_note)
    else:
        picture, numbers = st.columns([2, 3])
        picture.image(live.annotated(image, face), caption=caption, width="stretch")
        with numbers:
            by = f"fused by {predictor.fusion_name}" if face.fused is not None else "face branch, no fusion applied"
            st.markdown(f"### {face.label} · {face.probs[face.label]:.0%}")
            st.caption(by)
            if face.prediction_set is not None:
                st.caption(f"{live.SET_COVERAGE:.0%} prediction set: {{{', '.join(face.prediction_set)}}} (labels that "
                           f"hold the true one {live.SET_COVERAGE:.0%} of the time, per class, on PublicTest-calibrated "
                           "thresholds)")
            if face.box is None:
                st.caption("The whole image is taken as the face (a face crop: no detection).")
            else:
                left, top, right, bottom = face.box
                levelled = f" · turned {face.level_degrees:+.0f}° to level the eyes" if face.level_degrees else ""
                st.caption(f"Face box x {left}-{right}, y {top}-{bottom} px · detector score {face.detector_score:.2f}"
                           + levelled)
            table = live.face_probabilities(face)
            missing = [k for k, v in face.branches.items() if v is None]
            if missing:
                st.caption(f"No prediction from {', '.join(missing)} for this face (its landmarks were not found).")
            st.altair_chart(charts.probability_bars(live.long_frame(table)))
            st.dataframe(table.style.format("{:.1%}", na_rep="—"), key="tryit_face_probs")

# ------------------------------------------------------------------------------------------------ speech
st.subheader("Speech")
speech, speech_note = (None, live.no_model_note("audio", manifest)) if speech_source is None \
    else live.speech_model(speech_source, manifest)
if speech is None:
    st.info(speech_note)
else:
    UPLOAD_CLIP, RECORD = "Upload a clip", "Record with the microphone"
    clip_source = st.radio("Clip", [UPLOAD_CLIP, RECORD], horizontal=True, key="tryit_clip_source")
    if clip_source == UPLOAD_CLIP:
        clip = st.file_uploader("Speech clip", type=list(uploads.AUDIO_TYPES), key="tryit_clip",
                                max_upload_size=uploads.MAX_AUDIO_MB)
    else:  # a WAV file at the rate the speech models read
        clip = st.audio_input("Say a sentence", sample_rate=16000, key="tryit_recording")
    probs, clip_note = None, None
    if clip is not None:
        try:
            name = clip.name if clip_source == UPLOAD_CLIP else "recording.wav"  # the recorder always gives WAV
            with uploads.audio_file(clip.getvalue(), name) as clip_path:
                if clip_source == UPLOAD_CLIP:  # the recorder plays its own recording back
                    st.audio(clip.getvalue())
                probs, clip_note = live.predict_clip(speech, clip_path)
        except uploads.UploadError as e:
            st.error(f"Clip refused: {e}")
    if clip_note:
        st.info(clip_note)
    if probs is not None:
        top = probs.iloc[0].idxmax()
        st.markdown(f"### {top} · {probs.iloc[0][top]:.0%}")
        st.caption(f"{speech.branch}, over its own {len(probs.columns)} classes")
        st.altair_chart(charts.probability_bars(live.long_frame(probs)))
        st.dataframe(probs.style.format("{:.1%}"), key="tryit_speech_probs")

# ------------------------------------------------------------------------------------------------- video
VIDEO_STATE = "tryit_video_outcome"  # (upload and models, outcome, note, refusal): a rerun does not re-score
st.subheader("Video")
if predictor is None:
    st.info(predictor_note)
else:
    upload = st.file_uploader("Video of a face (with its voice, if it has sound)", type=list(uploads.VIDEO_TYPES),
                              key="tryit_video", max_upload_size=uploads.MAX_VIDEO_MB)
    if upload is None:
        st.session_state.pop(VIDEO_STATE, None)
    else:
        voice = speech  # None: face only
        wanted = (upload.file_id, face_source, landmark_source, predictor.fusion_name,
                  None if voice is None else voice.source)
        if st.session_state.get(VIDEO_STATE, (None,))[0] != wanted:
            outcome, note, refused = None, None, None
            try:
                with uploads.video_file(upload.getvalue(), upload.name) as path:
                    with st.spinner("scoring the video (the face frame by frame, the voice per window) ..."):
                        outcome, note = live.predict_video(live.video_predictor(predictor, voice), path)
            except uploads.UploadError as e:
                refused = str(e)
            st.session_state[VIDEO_STATE] = (wanted, outcome, note, refused)
        _, outcome, note, refused = st.session_state[VIDEO_STATE]
        if refused:
            st.error(f"Video refused: {refused}")
        elif note:
            st.info(note)
        else:
            result, info = outcome.result, outcome.result.info
            sound = "with sound" if info.has_audio else "no sound"
            st.caption(f"{info.duration:.1f} s, {info.width}x{info.height} px, {info.fps:.0f} frames/s, {sound}; "
                       f"scored in {result.seconds['total']:.1f} s. Windows of {result.options['window_s']:g} s every "
                       f"{result.options['hop_s']:g} s; branches: {', '.join(result.branch_names)}.")
            if outcome.timeline.empty:
                st.info("No window has a prediction: no face was found and there is no sound.")
            else:
                st.altair_chart(charts.video_timeline(outcome.timeline, list(result.label_space), info.duration))
            if outcome.frames:
                for column, frame in zip(st.columns(len(outcome.frames)), outcome.frames):
                    column.image(frame.image, caption=frame.caption, width="stretch")
            with st.expander("Timeline table"):
                st.dataframe(live.timeline_table(result).style.format(precision=3, na_rep="—"),
                             key="tryit_video_timeline")
            for line in result.notes:
                st.caption(f"Note: {line}")

st.caption("Calibrated probabilities (each model's temperature applied); a fusion combines the branches with the "
           "weights it learned on the calibration split, and is applied only to the exact runs it was fit on.")
