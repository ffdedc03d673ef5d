"""E-mail: a message rendered from a template, sent by SMTP or written to an outbox folder.

- mailer.py, templates.py: sending, and rendering the text templates beside them.
- no routes.py, service.py, repository.py, schemas.py: mail is sent for the other
  domains (after their work commits), never asked for by a request of its own.
"""
