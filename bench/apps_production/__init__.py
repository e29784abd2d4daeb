"""Apps that ``bench.production`` serves in processes of their own."""
