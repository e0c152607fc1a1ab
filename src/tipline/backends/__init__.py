"""What a node talks to outside PostgreSQL, each interface beside its implementations: presence
(memory or Redis), the recent-message cache (Redis), the OpenID Connect providers. Below the
domain: nothing here imports a domain, the gateway or the node."""
