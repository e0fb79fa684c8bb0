"""CLI commands that belong to one feature each; ``api.cli`` registers them."""
