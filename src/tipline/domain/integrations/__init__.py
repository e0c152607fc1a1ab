"""Webhooks and slash commands (docs/subsystems/integrations.md)."""
