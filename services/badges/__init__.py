"""The badges service: completion, streak, excellence and seed-student badges."""
