"""Network connectors: one interface (base.Connector), a registry, one module per network."""
