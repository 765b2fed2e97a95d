"""The synthetic-data stages (shared/METHODS.md section 1): ``synthetic`` (a set by BARE or a
baseline: ``prompts``, ``generate``) and ``synthscores`` (its diversity, indistinguishability
and validity). ``spec`` holds the keyed settings, ``planning`` the nodes, ``jobs`` the rules.
Fine-tuning a student on a set is the ``finetuned`` stage (``assay.finetune``)."""
