"""The National Public Service Portal (Cổng Dịch vụ công quốc gia): dossier status sync.

``connector`` (the sink and the reconciliation), ``session`` (the portal's JSON protocol),
``mapping`` (bus events to portal fields), ``status_machine`` (allowed status moves), ``state``
(the durable per-dossier sync state), ``simulator`` (a real server standing in for the portal).
"""
