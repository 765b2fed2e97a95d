"""Preference optimisation: preference pairs, CHES scores and subsets (pure parts).

Pairs tables (``pairs.parquet``) have the columns ``pair_id``, ``prompt`` (str), ``chosen``
(str), ``rejected`` (str), ``source`` (str), and, when built from sampled answers,
``query_id``. Drops (an empty side, chosen equal to rejected) are counted, never silent.
"""
