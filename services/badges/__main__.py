"""python -m services.badges: run the badges service alone."""

from services.badges.app import create_app
from shared.main import run_service

if __name__ == "__main__":
    run_service("badges", create_app)
