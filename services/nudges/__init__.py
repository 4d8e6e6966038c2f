"""The nudges service: segments, timed reminders, praise and welcome-back gifts."""
