"""The command line's argument parser: a usage error is one line on stderr and exit status 2, as
every other refusal of bad input is (argparse would print its usage block first)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors (an unknown option, a bad choice, a value that
    is not an integer, a missing argument) are ``error: PROG: MESSAGE`` on one line, exit 2; its
    subcommands' parsers are of this class too (argparse makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"error: {self.prog}: {text} (see {self.prog} --help)\n")
