"""Shared contracts and infrastructure of the ANTT workflow services.

`shared.contracts` holds the public, versioned message contracts (envelope, event and
inbound models, topic names). `shared.infra` holds the plumbing every service uses
(settings, logging, database, outbox, inbox, consumer runtime, HTTP helpers).
No domain rule lives here.
"""
