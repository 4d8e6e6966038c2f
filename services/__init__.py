"""The gamification services, one package each, each runnable alone (python -m services.NAME)."""
