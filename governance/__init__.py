"""People and decisions: ownership, change requests, escalations, notifications, audit."""
