"""Personal access tokens and bot accounts (docs/subsystems/integrations.md)."""
