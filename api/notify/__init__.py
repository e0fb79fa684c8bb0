"""Notifications: alert notices rendered into emails (or webhook posts) and delivered through a
persistent outbox, at least once and deduplicated.

The flow, and the module that owns each step:

- ``notice``: ``AlertNotice``, the input (built from an alert transition by ``notice_from``);
- ``render``: the Jinja2 templates (sandboxed, ``StrictUndefined``) → a multipart email;
  ``headers`` keeps every header value free of control characters and every address validated;
- ``base``: the notifier plugin contract and its registry (``smtp``, ``eml``, ``webhook``);
- ``policy``: quiet hours and the daily digest (when an entry may be sent);
- ``service``: ``NotificationService`` — ``enqueue(notices)`` writes outbox rows,
  ``deliver_due(now)`` sends what is due, ``start()``/``stop()`` run that on a thread while this
  process holds the notification leader lock;
- ``wiring``: ``notification_service(settings, store, …)``, what the app factory calls.

Wiring (for the app factory): build the service once with ``notification_service``, call
``enqueue`` with the notices of each evaluation's alert transitions, ``start()`` it with the app
and ``stop()`` it on shutdown. The outbox table itself is a store part (``signals/outbox.py``).
"""
