"""The citizen data store's contract: the paths of its REST API (JSON records; the mapping is in
mapping.py)."""

from __future__ import annotations

RESULTS = "/api/v1/results"  # POST a record, GET a search; GET {RESULTS}/{id}: one record
