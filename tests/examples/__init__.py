"""The runnable pycaffe examples in examples/, each run as a user runs it."""
