"""Scenario generation: historical profiles -> cleaned history -> weighted representative days."""
