"""UI text in Chinese and English: one JSON file per language (search_api/ui/i18n/*.json, the
same keys in each), the language chosen by the `skynet_lang` cookie, else Accept-Language."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request

from search_api.browser_session import parse_cookies

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "skynet_lang"
I18N_DIR = Path(__file__).parent / "i18n"


@cache
def strings(language: str) -> dict[str, str]:
    """key → text for `language` (one of LANGUAGES)."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not one of {LANGUAGES}")
    loaded: dict[str, str] = json.loads((I18N_DIR / f"{language}.json").read_text("utf-8"))
    return loaded


def language_of(request: Request) -> str:
    """The cookie's language, else the first supported one Accept-Language names, else zh."""
    chosen = parse_cookies(request.headers.get("cookie", "")).get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def translator(language: str) -> Callable[[str], str]:
    """`t(key)`: the text of `key` (the key itself when missing, so a gap shows, not a crash)."""
    table = strings(language)
    return lambda key: table.get(key, key)
