"""python -m services.contests: run the contests service alone."""

from services.contests.app import create_app
from shared.main import run_service

if __name__ == "__main__":
    run_service("contests", create_app)
