"""``python -m services.approval``: run the service (HTTP API + Kafka consumers + relay)."""

from shared.infra.serve import serve

if __name__ == "__main__":
    serve("services.approval.app:create_app", "services.approval.settings:ApprovalSettings")
