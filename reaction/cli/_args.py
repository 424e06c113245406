"""Argument types shared by the commands."""

import argparse
from typing import Callable, Type, Union

Number = Union[int, float]


def positive(kind: Type, name: str) -> Callable[[str], Number]:
    """An argparse type: ``kind`` (int or float) of the text, which must be > 0."""

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                "{} must be {}, got {!r}".format(name, "an integer" if kind is int else "a number", text)
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError("{} must be > 0, got {}".format(name, text))
        return value

    return parse


def yes_no(text: str) -> bool:
    """An argparse type: yes/no, true/false or 1/0."""
    value = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError("expected yes or no, got {!r}".format(text))
    return value
