"""`gamify simulate`: replay a whole camp through the running services."""
