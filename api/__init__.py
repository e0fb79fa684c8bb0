"""Rapport's shell: the HTTP API, the CLI, scheduler wiring, notifiers and the rule-test runner."""
