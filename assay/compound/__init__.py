"""The compound stages: ``samples`` (many answers per query), ``verdicts`` (a judge's
verdict on each), ``scaling`` (Vote and Filter-Vote against the number of calls K, the
call-scaling law, K*) and ``selection`` (a model per module, LLMSelector).

Each stage's logic is in the module of its name; ``vote`` (the exact Vote@K estimator),
``selector`` (the optimiser) and ``systems`` (self-refine, debate) serve them. ``spec``
holds the keyed settings, ``planning`` the nodes, ``jobs`` the rules.
"""
