"""The ANTT workflow services: registration, assessment, approval."""
