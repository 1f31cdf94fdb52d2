"""The National Public Service Portal (Cổng Dịch vụ công quốc gia): dossier status sync.

``connector`` (the sink and the reconciliation), ``protocol`` and ``session`` (the portal's JSON
protocol: replies, sessions), ``envelope`` (the portal's own envelope or a provincial bridge's),
``mapping`` (bus events to portal fields), ``status_machine`` (allowed status moves), ``state``
(the durable per-dossier sync state), ``simulator`` (a real server standing in for the portal).
"""
