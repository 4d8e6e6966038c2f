"""Plumbing shared by the gamification services: events, settings, database, consumer, outbox."""
