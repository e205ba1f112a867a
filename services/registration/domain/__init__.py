"""The registration service's domain: the unit register and the unit-year as registered
(đăng ký phấn đấu), and their lifecycle (``machine``). No I/O: the package imports neither the
database nor Kafka nor HTTP, nor the commands, policies, projections and queries around it
(an import-linter contract keeps it so); they load its objects through the unit of work and
publish what its methods return."""
