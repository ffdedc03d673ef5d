"""Accounts and access: logins, tokens and sessions, the role rules of both UIs, staff accounts,
and password changes and resets. Each concern is a module of its own, below the service:

- access.py: the caller parameter of every endpoint (the role matrix applied to a request).
- permissions.py, record.py: who may do what (the role matrix; the clinical record's table).
- tokens.py, sessions.py, devices.py: access tokens, sessions that end, and device tokens.
- passwords.py, reauth.py, reset.py: password rules, a password asked again, and resets.
- staff.py: staff accounts, made, changed and deactivated through one path for both UIs.
- notices.py: the mails an owner gets when their credentials change.
"""
