"""Untrusted text (prompts, names, vendor and import messages) for elements that render Markdown.

st.error, st.warning, st.info, st.success, st.toast, st.caption, st.markdown and widget labels all read their
text as Markdown with Streamlit's extras (:red[...], :material/icon:, $math$, emoji shortcodes, bare links).
Text from people, imports or vendors must show as written, never as an image, a link or styled text.
"""
from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is always literal. These
# are the ones that can start something: links and images, emphasis, code, HTML and entities, headings, lists,
# quotes, tables, Streamlit's :directives[]: and $math$.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=^@])")
# Bare links (http://, www., user@host) and emoji shortcodes (:smile:) are found in the text after Markdown is
# read, where escapes no longer count; an invisible word joiner after each colon and "www" and before each "@"
# keeps them from matching.
JOINER = "\u2060"
_BARE = re.compile(r"(:|www|@)", re.IGNORECASE)


def plain(text) -> str:
    """`text` escaped so that Markdown shows it literally, line breaks kept."""
    joined = _BARE.sub(lambda found: f"{JOINER}@" if found[0] == "@" else found[0] + JOINER, str(text))
    escaped = _PUNCTUATION.sub(r"\\\1", joined)
    # Leading spaces would make an indented code block; a lone line break would be joined to the line before.
    return "  \n".join(line.lstrip() for line in escaped.splitlines())
