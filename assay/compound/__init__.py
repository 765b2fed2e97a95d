"""Compound inference systems: Vote and Filter-Vote over many LM calls, the call-scaling
law, verifier-based judging and a model per module (LLMSelector).

Analysis modules (``vote``, ``scaling``, ``selector``) are pure functions on tables; the
sampling that feeds them (``sampling``, ``systems``) sits at the edge and uses the engine.
"""
