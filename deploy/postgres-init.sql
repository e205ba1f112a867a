-- One database per service (docker-compose PostgreSQL init).
CREATE DATABASE antt_registration;
CREATE DATABASE antt_assessment;
CREATE DATABASE antt_approval;
