"""The support desk around the engine: live handoff to operators, the learning loop, reports."""
