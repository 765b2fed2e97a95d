"""BARE synthetic data and its baselines (shared/METHODS.md section 1): prompts and
parsing, generation, scoring, and supervised fine-tuning of a student on the result."""
