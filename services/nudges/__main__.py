"""python -m services.nudges: run the nudges service alone."""

from services.nudges.app import create_app
from shared.main import run_service

if __name__ == "__main__":
    run_service("nudges", create_app)
