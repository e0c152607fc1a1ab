"""Tipline's AWS CDK app: a stateful stack (network, data, identity) and a stateless one (app, edge, operations)."""
