"""Helpers shared by the tests: site processes, the simulation harness, checkers."""
