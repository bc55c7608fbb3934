"""Absolute, signed links to what the studio serves from its own files: archived results and exports."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from lib.media.archive import owner_dir
from lib.media.links import ASSETS_ROUTE, EXPORTS_ROUTE
from lib.ui.runtime import services


def _base_url() -> str:
    """The studio's address as the browser sees it (behind a proxy too): st.audio/st.video take only http(s)
    strings as addresses and any other string for a file name."""
    parts = urlsplit(st.context.url or services().settings.public_url or "http://localhost")
    return f"{parts.scheme}://{parts.netloc}"


def media_link(path: Path, owner: str, download_as: str | None = None) -> str:
    """A link to an archived file (`path` from `Archiver.resolve`), served by /files."""
    return archive_link(path.relative_to(services().archive.folder).as_posix(), owner, download_as)


def archive_link(name: str, owner: str, download_as: str | None = None) -> str:
    """A link to the archive's file `name` (a name `lib.media.archive` makes) that may be rendered on its first
    request (a loudness-normalised download, `Archiver.served`), served by /files."""
    return _base_url() + services().links.path(name, owner_dir(owner), download_as)


def asset_link(folder: str) -> str:
    """The address of one of the studio's own script folders (lib/ui/static), served by /assets."""
    return f"{_base_url()}{ASSETS_ROUTE}/{folder}"


def export_link(name: str, owner: str, download_as: str = "cue-studio-history.zip") -> str:
    """A download link to a finished export (`Exports.write`, `Exports.write_takes`), served by /exports."""
    return _base_url() + services().links.path(name, owner_dir(owner), download_as, EXPORTS_ROUTE)
