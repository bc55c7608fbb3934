"""Downloads named for people (`heavy-rain_10s_seed1234_vidu.mp3`) and carrying what made them in their tags."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from mutagen import MutagenError
from mutagen.id3 import COMM, ID3, TIT2, TPE1, TXXX, ID3NoHeaderError
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.wave import WAVE

SLUG_CHARS = 48
TAG_CHARS = 2000  # a timed sound's prompts together can be long; tags stay small
MP4_SEED = "----:com.cuestudio:seed"


def slug(text: str, limit: int = SLUG_CHARS) -> str:
    """Lower-case ASCII words joined by hyphens, cut at a word's end within `limit`; "" when none are left."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    kept = ""
    for word in words:
        joined = f"{kept}-{word}" if kept else word
        if len(joined) > limit:
            break
        kept = joined
    return kept or (words[0][:limit] if words else "")


def download_name(prompt: str, duration: float | None, seed: int | None, vendor: str, format: str,
                  suffix: str = "") -> str:
    """`<prompt slug>_<seconds>s_seed<seed>_<vendor><suffix>.<format>`: safe ASCII, at most 128 characters
    (what a signed link's `dl` accepts); parts not known are left out, and a prompt with no Latin words reads as
    the kind of file."""
    parts = [slug(prompt) or ("video" if format == "mp4" else "sound")]
    if duration:
        parts.append(f"{duration:g}s" if duration < 100 else f"{round(duration)}s")
    if seed:
        parts.append(f"seed{int(seed)}")
    parts.append(slug(vendor, 12) or "cue")
    tail = f"-{slug(suffix, 16)}" if slug(suffix, 16) else ""
    return "_".join(parts) + tail + f".{format}"


def write_tags(path: Path, format: str, *, prompt: str, seed: int | None, vendor: str) -> None:
    """Put the prompt (title and comment), seed and vendor (artist) into the file's tags: ID3 for MP3 and WAV,
    iTunes atoms for MP4. Raises MutagenError (or OSError) when the file cannot be tagged."""
    prompt = prompt[:TAG_CHARS]
    if format == "mp4":
        tags = MP4(path)
        tags["\xa9nam"], tags["\xa9cmt"], tags["\xa9ART"] = [prompt], [prompt], [vendor]
        if seed:
            tags[MP4_SEED] = [MP4FreeForm(str(int(seed)).encode())]
        tags.save()
        return
    if format == "wav":
        wave = WAVE(path)
        if wave.tags is None:
            wave.add_tags()
        tags = wave.tags
    else:
        try:
            tags = ID3(path)
        except ID3NoHeaderError:
            tags = ID3()
    tags.add(TIT2(encoding=3, text=prompt))
    tags.add(COMM(encoding=3, lang="eng", desc="", text=prompt))
    tags.add(TPE1(encoding=3, text=vendor))
    if seed:
        tags.add(TXXX(encoding=3, desc="seed", text=str(int(seed))))
    if format == "wav":
        wave.save()
    else:
        tags.save(path)


def read_tags(path: Path, format: str) -> dict:
    """The prompt, seed and vendor `write_tags` wrote (None for any not there)."""
    try:
        if format == "mp4":
            tags = MP4(path).tags or {}
            seed = tags.get(MP4_SEED, [b""])[0]
            return {"prompt": (tags.get("\xa9nam") or [None])[0], "vendor": (tags.get("\xa9ART") or [None])[0],
                    "seed": int(bytes(seed)) if bytes(seed).isdigit() else None}
        tags = (WAVE(path).tags if format == "wav" else ID3(path)) or {}
    except (MutagenError, OSError):
        return {"prompt": None, "seed": None, "vendor": None}
    seed = tags.get("TXXX:seed")
    return {"prompt": str(tags["TIT2"]) if "TIT2" in tags else None,
            "vendor": str(tags["TPE1"]) if "TPE1" in tags else None,
            "seed": int(str(seed)) if seed and str(seed).isdigit() else None}
