"""The preference stages: ``preferences`` (pairs), ``ches`` (CHES scores and subsets),
``policies`` (a variant trained on a subset, log-probs tracked: ``tracking``) and
``displacement`` (the variant x subset table). ``spec`` holds the keyed settings,
``planning`` the nodes, ``jobs`` the rules.

Pairs tables (``pairs.parquet``) have the columns ``pair_id``, ``prompt`` (str), ``chosen``
(str), ``rejected`` (str), ``source`` (str), and, when built from sampled answers,
``query_id``. Drops (an empty side, chosen equal to rejected) are counted, never silent.
"""
