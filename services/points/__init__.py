"""The points service: the single ledger of the camp economy."""
