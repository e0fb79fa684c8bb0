"""Owner identity as the API and metrics use it: a bounded slug of the PM's name, never an email."""

from __future__ import annotations

import re

from rapport.signals.model import Client

_NOT_WORD = re.compile(r"[^\w]+")

#: The ``owner``/``segment`` label value of a client without one.
NONE_LABEL = "none"


def owner_slug(name: str) -> str:
    """``"Mei Chen"`` → ``"mei-chen"``; letters of any script are kept (``"陈美"`` stays)."""
    slug = _NOT_WORD.sub("-", name.casefold()).strip("-_")
    return slug or NONE_LABEL


def client_owner_slug(client: Client) -> str:
    return owner_slug(client.owner.name) if client.owner is not None else NONE_LABEL


def owner_matches(client: Client, restriction: str) -> bool:
    """True when ``client``'s owner is ``restriction``: their email (any case) or name slug."""
    if client.owner is None:
        return False
    wanted = restriction.casefold()
    return client.owner.email.casefold() == wanted or owner_slug(client.owner.name) == wanted
