"""Rapport's edge towards data: the signal model, the store, imports and (later) collectors."""
