"""From alert transitions to outbox entries: what runs after each evaluation's alert step.

``AlertDispatch(notifications, explainer, links)`` is called with the alert rules, the clients of
the evaluation and its transitions. It drops the silenced ones (their history is the alert
step's; they are not delivered), explains each affected client once (``explainer``: only those
clients are re-scored, never the registry), routes each notice — the client's owner PM first
(unless the rules say ``owner: false``), then the recipients of every route matching the rule's
severity and the client's segment, each address once — and enqueues them. The outbox dedupes by
the transition's key, so handing the same transitions in again enqueues nothing new.

Addresses come only from the registry (``clients.yaml``) and the alert rules, never from signals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from rapport.api.notify.notice import AlertNotice, Links, Recipient, notice_from
from rapport.api.notify.service import NotificationService
from rapport.api.pipeline import ClientEvaluation, earlier_scores
from rapport.engine.alert_rules import AlertRules
from rapport.engine.alerts import AlertTransition
from rapport.engine.explain import COMPARE_SPANS, Explanation, explain
from rapport.signals.model import Client
from rapport.signals.store import Store

#: Explains one client as of an instant (None: it cannot be explained, e.g. it left the registry).
Explainer = Callable[[Client, datetime], Explanation | None]


def store_explainer(
    store: Store, evaluate: Callable[[Client, datetime], ClientEvaluation]
) -> Explainer:
    """An ``Explainer`` as ``rapport explain`` and the API build one: ``evaluate`` scores the client
    alone (its arrays give the evidence), compared with its stored scores 7 and 30 days before; the
    change the email shows is the 7-day one."""

    def explain_client(client: Client, as_of: datetime) -> Explanation:
        evaluated = evaluate(client, as_of)
        current = evaluated.record()
        earlier = earlier_scores(store, client.id, current.as_of)
        return explain(
            current,
            evaluated.scorecard,
            earlier[COMPARE_SPANS[0]],
            client.segment,
            earlier=earlier,
            evidence=evaluated.evidence(),
        )

    return explain_client


def recipients_of(rules: AlertRules, rule_id: str, client: Client) -> tuple[Recipient, ...]:
    """Who receives ``rule_id``'s notices about ``client``: its owner PM (``rules.owner``), then
    the routed recipients, in the client's time zone; an address listed twice is kept once."""
    zone = client.timezone or "UTC"
    found: list[Recipient] = []
    if rules.owner and client.owner is not None:
        owner = client.owner
        found.append(
            Recipient(name=owner.name, email=owner.email, locale=owner.locale, timezone=zone)
        )
    for routed in rules.recipients_for(rule_id, client.segment):
        found.append(
            Recipient(name=routed.name, email=routed.email, locale=routed.locale, timezone=zone)
        )
    seen: set[str] = set()
    unique = []
    for recipient in found:
        if recipient.email.lower() not in seen:
            seen.add(recipient.email.lower())
            unique.append(recipient)
    return tuple(unique)


def notices_for(
    rules: AlertRules,
    clients: Mapping[str, Client],
    transitions: Sequence[AlertTransition],
    explainer: Explainer,
    links: Callable[[str], Links],
) -> list[AlertNotice]:
    """The notices of ``transitions`` that are to be delivered (not silenced, a known client and
    rule, at least one recipient), routed, each client explained once."""
    explained: dict[str, Explanation | None] = {}
    made = []
    for transition in transitions:
        client = clients.get(transition.client)
        if transition.silenced or client is None or transition.rule not in rules.rules:
            continue
        to = recipients_of(rules, transition.rule, client)
        if not to:
            continue
        if client.id not in explained:
            explained[client.id] = explainer(client, transition.at)
        notice = notice_from(transition, client, explained[client.id], links(client.id))
        when = rules.rules[transition.rule].when
        made.append(
            notice.model_copy(
                update={
                    "recipients": to,
                    "measure": when.measure,
                    "threshold_grade": when.grade.grade if when.grade is not None else None,
                }
            )
        )
    return made


class AlertDispatch:
    """Not-silenced alert transitions → routed, explained notices → the outbox (see the module
    docstring). ``links(client_id)`` gives each notice's links."""

    def __init__(
        self,
        notifications: NotificationService,
        explainer: Explainer,
        links: Callable[[str], Links],
    ) -> None:
        self._notifications = notifications
        self._explainer = explainer
        self._links = links

    def __call__(
        self,
        rules: AlertRules,
        clients: Mapping[str, Client],
        transitions: Sequence[AlertTransition],
    ) -> int:
        """Enqueue the notices of ``transitions``; returns how many outbox entries were new (and
        wakes the sender when there are)."""
        notices = notices_for(rules, clients, transitions, self._explainer, self._links)
        if not notices:
            return 0
        added = self._notifications.enqueue(notices)
        if added:
            self._notifications.wake()
        return added
