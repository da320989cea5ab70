"""The one exception type the command line turns into a one-line message and exit code 2."""


class PtaptError(Exception):
    """Bad input, configuration or usage. The message names the file and what is wrong."""
