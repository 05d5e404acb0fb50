"""lowkey's benchmarks: scripts that print measured numbers; `make bench` runs them all."""
