"""The media a task produces: recipes over lib.sim.media, a bounded cache of the bytes, and signed, expiring URLs.

Media is deterministic per recipe, so the cache may drop anything: an evicted file is simply rendered again
when someone downloads it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable

from lib.sim import media

MEDIA_PREFIX = "/_sim/media/"
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4", "jpg": "image/jpeg"}
_ENCODERS = {"mp3": media.encode_mp3, "wav": media.encode_wav}


@dataclass(frozen=True)
class Recipe:
    render: Callable[[], dict[str, bytes]]  # every file at once (mp3 and wav share one render)
    formats: dict[str, str]  # role -> file extension


def _sound(prompt: str, duration: float, seed: int, formats: tuple[str, ...]) -> dict[str, bytes]:
    samples = media.render_sound(prompt, duration, seed)
    return {fmt: _ENCODERS[fmt](samples) for fmt in formats}


def _timeline(events: list[tuple[float, float, str]], duration: float, seed: int) -> dict[str, bytes]:
    return {"mp3": media.encode_mp3(media.render_timeline(events, duration, seed))}


def _video(prompt: str, duration: float, width: int, height: int, seed: int, watermark: bool, ambience: bool,
           music: bool) -> dict[str, bytes]:
    video, cover = media.render_video(prompt, duration, width, height, seed, ambience=ambience, music=music)
    files = {"video": video, "cover": cover}
    if watermark:
        files["watermarked"] = media.render_video(prompt, duration, width, height, seed, watermark=True,
                                                  ambience=ambience, music=music)[0]
    return files


def sound(prompt: str, duration: float, seed: int, formats: tuple[str, ...] = ("mp3",)) -> Recipe:
    return Recipe(partial(_sound, prompt, duration, seed, formats), {fmt: fmt for fmt in formats})


def timeline(events: list[tuple[float, float, str]], duration: float, seed: int) -> Recipe:
    return Recipe(partial(_timeline, events, duration, seed), {"mp3": "mp3"})


def video(prompt: str, duration: float, width: int, height: int, seed: int, watermark: bool, ambience: bool = False,
          music: bool = False) -> Recipe:
    """A video's files; with `ambience` (Vidu's native audio) or `music` (bgm) its MP4 has a sound track."""
    formats = {"video": "mp4", "cover": "jpg"} | ({"watermarked": "mp4"} if watermark else {})
    return Recipe(partial(_video, prompt, duration, width, height, seed, watermark, ambience, music), formats)


@dataclass(eq=False)
class Bundle:
    """One task's files: an opaque file name ("<hex>.<ext>") per role."""

    recipe: Recipe
    names: dict[str, str]


class AssetStore:
    def __init__(self, cache_bytes: int):
        self._secret = secrets.token_bytes(32)
        self._limit = cache_bytes
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sim-render")
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._files: dict[str, tuple[Bundle, str]] = {}  # file name -> (bundle, role)
            self._cache: OrderedDict[Bundle, dict[str, bytes]] = OrderedDict()
            self._rendering: dict[Bundle, Future] = {}

    def add(self, recipe: Recipe) -> Bundle:
        bundle = Bundle(recipe, {role: f"{secrets.token_hex(16)}.{ext}" for role, ext in recipe.formats.items()})
        with self._lock:
            self._files.update((name, (bundle, role)) for role, name in bundle.names.items())
        return bundle

    def warm(self, bundle: Bundle) -> Future:
        """A future for the bundle's files, rendering them in the pool unless cached or already underway."""
        with self._lock:
            if bundle in self._cache:
                self._cache.move_to_end(bundle)
                done = Future()
                done.set_result(self._cache[bundle])
                return done
            if bundle not in self._rendering:
                self._rendering[bundle] = self._pool.submit(self._render, bundle)
            return self._rendering[bundle]

    def read(self, name: str) -> tuple[bytes, str] | None:
        """(bytes, content type) of a file, or None for a name this store never issued."""
        with self._lock:
            entry = self._files.get(name)
        if entry is None:
            return None
        bundle, role = entry
        return self.warm(bundle).result()[role], CONTENT_TYPES[bundle.recipe.formats[role]]

    def url_path(self, name: str, issued: float, ttl: float) -> str:
        expires = math.ceil(issued + ttl)
        return f"{MEDIA_PREFIX}{name}?Expires={expires}&Signature={self._sign(name, expires)}"

    def check(self, name: str, expires: str, signature: str) -> str:
        """"ok", "expired" or "forbidden" (a tampered or missing signature), like a CDN's signed URLs."""
        if not expires.isdigit() or not hmac.compare_digest(self._sign(name, int(expires)), signature):
            return "forbidden"
        return "expired" if time.time() > int(expires) else "ok"

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _sign(self, name: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{name}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _render(self, bundle: Bundle) -> dict[str, bytes]:
        try:
            files = bundle.recipe.render()
        except BaseException:
            with self._lock:
                self._rendering.pop(bundle, None)
            raise
        with self._lock:  # cache and un-mark in one step, so no reader starts a second render in between
            self._rendering.pop(bundle, None)
            self._cache[bundle] = files
            size = sum(len(data) for cached in self._cache.values() for data in cached.values())
            while size > self._limit and len(self._cache) > 1:
                size -= sum(len(data) for data in self._cache.popitem(last=False)[1].values())
        return files
