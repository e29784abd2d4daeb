"""Apps that ``bench.configs`` serves with uvicorn in processes of their own."""
