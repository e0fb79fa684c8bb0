"""``rapport validate``: how well the scores foresaw outcomes (``stats``, ``report``), the report's
charts (``charts``), and a better scorecard fitted on one period, checked on the next
(``suggest``). Needs the ``validate`` extra (scipy, scikit-learn, matplotlib)."""
