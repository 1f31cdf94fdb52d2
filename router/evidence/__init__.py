"""The evidence broker of the once-only exchange: the catalogue of datasets and procedures, the
query (policy, cache, provider, minimisation, audit, provenance) and the collection of a
dossier's evidence on submission."""
