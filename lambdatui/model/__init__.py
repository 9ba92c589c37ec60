"""Pure vocabulary shared by every layer: boundaries, error types, facts, snapshots (no trio, quart or textual)."""
