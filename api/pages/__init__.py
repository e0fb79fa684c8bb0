"""Server-rendered HTML pages for people: the portfolio at ``/`` and a page per client at
``/clients/{id}``, in English or Chinese, with the API's access rules (``routes``)."""

from __future__ import annotations

import secrets

from fastapi import FastAPI

from rapport.api.pages.routes import ASSETS, STATIC_DIR, PageAssets, router
from rapport.api.pages.session import Sessions
from rapport.api.settings import Settings

__all__ = ["install"]


def install(app: FastAPI, settings: Settings) -> None:
    """Add the pages, their assets and their session signer to ``app``. Without
    ``session_secret`` the signer's key is random per process: restarting signs everyone out."""
    secret = settings.session_secret
    key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    app.state.sessions = Sessions(key, settings.tokens)
    app.mount(ASSETS, PageAssets(directory=STATIC_DIR), name="pages-assets")
    app.include_router(router)
