"""fer_audio: the speech branch. RAVDESS reader, log-mel CNN, calibrated predictions artifacts,
and the face+voice pairing (pseudo-pairs or a real paired manifest) that feeds ``fer ensemble``."""
