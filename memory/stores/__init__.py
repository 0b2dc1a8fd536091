"""Memory by concern, each a part of `memory.store.Store` sharing its engine."""
