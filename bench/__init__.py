"""The course's performance harness: ``make bench`` (``python -m bench``).

Each section module (``serving``, ``configs``, ``live_server``,
``notebooks``, ``grading``) measures one thing side by side, several runs in
one go, and yields ``Row``s; ``__main__`` prints them as one table and writes
``bench/RESULTS.md``. Nothing here runs in ``make test``: tests never assert
wall-clock times, benchmarks report what they measured.
"""
