"""Stage ``evaluate``: a model (a study model or a trained one) answers the test split.

``evaluation`` holds the logic and the files' columns, ``spec`` the keyed settings,
``planning`` the nodes (``evaluation_node`` serves the stages that train models), ``jobs``
the rule ``evaluate``.
"""
