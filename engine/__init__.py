"""Rapport's pure core: the rules language, its loader and validator, and the vectorized scorer.

Nothing in this package touches the network, a database or the clock. The scorer takes a validated
scorecard, the clients, columnar signal arrays and an ``as_of`` instant, and returns scores and the
reasons for them. The only IO here is the loader reading rules files (and asking git for their
version).
"""
