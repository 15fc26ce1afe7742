"""Label spaces. The platform's canonical space is FER2013's CSV code order."""

from __future__ import annotations

FER7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Spellings seen in public FER/affect datasets, mapped to the canonical names above.
EMOTION_ALIASES: dict[str, str] = {
    "angry": "angry", "anger": "angry", "ang": "angry",
    "disgust": "disgust", "disgusted": "disgust", "dis": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "hap": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise", "sur": "surprise",
    "neutral": "neutral", "neu": "neutral",
}


def canonical_emotion(name: str) -> str | None:
    """Canonical emotion name for a spelling (case-insensitive), or None if unknown."""
    return EMOTION_ALIASES.get(name.strip().lower())
