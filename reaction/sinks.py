"""Where laugh events go. A sink has two calls: ``emit(event)`` and ``close()``."""
import json
import os
from typing import IO, Optional

from .types import LaughEvent, ReactionError


class Sink:
    """Receives every laugh event the pipeline closes, in order.

    A base class to document the interface (``typing.Protocol`` needs Python
    3.8 and the DeepLens runs 3.7); any object with these two methods works.
    """

    def emit(self, event: LaughEvent) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class JsonlSink:
    """Appends one JSON object per laugh event to a file, flushed per event.

    Flushing each line means a crash mid-screening loses no closed event.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        try:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            self._f: Optional[IO[str]] = open(path, "w")
        except OSError as e:
            raise ReactionError("{}: cannot write events ({})".format(path, e.strerror))

    def emit(self, event: LaughEvent) -> None:
        assert self._f is not None, "emit after close"
        self._f.write(json.dumps(event.to_dict(), sort_keys=True) + "\n")
        self._f.flush()
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class ListSink:
    """Keeps events in memory; for library users and tests."""

    def __init__(self) -> None:
        self.events = []  # type: list

    def emit(self, event: LaughEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass
