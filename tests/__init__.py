"""The tests of lienthong."""
