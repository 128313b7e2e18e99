"""Built-in performers, one module per family; each module has ``register(registry)``."""
