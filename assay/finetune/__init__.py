"""Stage ``finetuned``: a student fine-tuned (SFT) on each synthetic set, then evaluated.

``finetuned`` holds the training, ``spec`` the keyed settings, ``planning`` the nodes,
``jobs`` the rule ``train_finetuned``.
"""
