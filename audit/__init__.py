"""The auditors' tool: replay the ANTT event history and prove it whole and unaltered.

``python -m audit verify | history | as-of | export | cross-check`` (see docs/audit.md).
It reads the topics of a running cluster, or an exported archive, and imports nothing of the
project but ``shared.contracts``: what the services publish is judged by the published
contract alone, never by the services' own code.
"""

__version__ = "1.0.0"
