"""Collectors: plugins that pull signals from the tools PMs already use."""
