"""E-mail: a message rendered from a template, sent by SMTP or written to an outbox folder."""
