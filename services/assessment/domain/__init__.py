"""The assessment service's domain: the assessment case of a unit-year (``model``), the
criteria catalogs and their loader (``criteria``), the rules engine that judges a
self-assessment and an incident (``rules``), the provinces' scoring sheets (``scoring``), the
exemplary track (``exemplary``) and the lifecycles (``machine``). No I/O beyond reading its own
catalog files: the package imports neither the database nor Kafka nor HTTP, nor the commands,
policies, projections and queries around it (an import-linter contract keeps it so)."""
