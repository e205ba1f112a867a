"""``python -m services.assessment``: run the service (HTTP API + Kafka consumers + relay)."""

from shared.infra.serve import serve

if __name__ == "__main__":
    serve("services.assessment.app:create_app", "services.assessment.settings:AssessmentSettings")
