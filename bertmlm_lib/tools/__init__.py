"""The machinery beside the book: the `bertmlm` command, `bertmlm run`'s stage runner and report,
multi-worker training, and the runs' bookkeeping. No lesson imports it (tests/test_layout.py);
it imports the book's modules and runs them headless.
"""
