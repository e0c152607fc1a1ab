"""The admin console: users, reports, the audit log and the status page (docs/subsystems/admin.md)."""
