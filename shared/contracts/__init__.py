"""Public message contracts. Changes here are additive within a schema version."""
