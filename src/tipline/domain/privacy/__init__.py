"""Privacy: a person's data export and the deletion of their account (docs/subsystems/accounts.md)."""
