"""The business registry's contract: the paths of its REST API (JSON replies; the mapping to
``business.registration`` is in mapping.py)."""

from __future__ import annotations

ENTERPRISES = "/api/v1/enterprises"  # GET {ENTERPRISES}/{tax_code}: one enterprise
OAUTH2 = "/oauth/token"  # the OAuth2 client-credentials grant, when the registry asks for one
