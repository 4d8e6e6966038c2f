"""The `gamify` command line: everything a person runs."""
