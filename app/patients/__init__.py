"""The patient record: its field rules, its API, its history, and the commands that re-encrypt and
purge it.

- fields.py, examples.py: each field rule written once, and the OpenAPI examples, below the
  schemas that share them (the admin's forms too).
- history_routes.py: the record's history and deleted patients, a second router under their own
  tag (and their own callers), kept apart from the record's hot paths.
- versions.py: the history's SQL: the version CTE every write in repository.py embeds, and the
  history's reads (HistoryRepository), below repository.py, which builds on it.
"""
