"""The trio side: runs the core's effects, serves its APIs, owns processes and time."""
