"""python -m services.points: run the points service alone."""

from services.points.app import create_app
from shared.main import run_service

if __name__ == "__main__":
    run_service("points", create_app)
