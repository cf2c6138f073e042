"""The environment engine: types, tool registry, copy-on-write database, environment, reward."""
