"""Test helpers shared by unit and integration tests: a real webhook receiver, in-memory fakes."""
