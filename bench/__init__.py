"""Load benchmark of the patient service against its database's floor (`make bench`)."""
