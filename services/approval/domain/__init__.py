"""The approval service's domain: the cases that move along a chain (``model``: the ANTT
recognition of a unit-year and its exemplary title, the commune roll-up, claims), the chains
as configuration and their loader (``chains``) and the lifecycles (``machine``). No I/O beyond
reading its own configuration: the package imports neither the database nor Kafka nor HTTP,
nor the commands, policies, projections, queries and console around it (an import-linter
contract keeps it so)."""
