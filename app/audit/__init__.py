"""The audit trail: every read, change and login attempt, who, what, when and from where. An
event is written with the work it records (app.requests.work); these are its values, its SQL,
GET /api/audit/, and its monthly partitions.

- actions.py: the trail's vocabulary, every action an event may record, named once (Action).
- partitions.py, partition_repository.py: the trail's monthly partitions (the command line's
  audit-partitions and audit-archive), their rules and their DDL, apart from the events' SQL.
- no dependencies.py: its one endpoint needs nothing beyond its caller and query.
"""
