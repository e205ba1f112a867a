"""``python -m services.registration``: run the service (HTTP API + Kafka consumers + relay)."""

from shared.infra.serve import serve

if __name__ == "__main__":
    serve("services.registration.app:create_app", "services.registration.settings:RegistrationSettings")
