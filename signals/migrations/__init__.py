"""Alembic migrations of the store; ``signals.store.Store.open`` runs them to ``head``."""
