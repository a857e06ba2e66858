"""Solution methods over the one model builder."""
