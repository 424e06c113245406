"""Where laugh events go. A sink has two calls: ``emit(event)`` and ``close()``.

Sinks are context managers, so that a ``with`` block closes them however it ends.
"""

import json
import os
import sys
from typing import IO, List, Optional

from .types import LaughEvent, ReactionError

if sys.version_info >= (3, 8):
    from typing import Protocol  # novermin: the else branch serves 3.7
else:
    # Python 3.7 (the DeepLens) has no typing.Protocol; there Sink is a plain
    # class that documents the interface, and any object with its methods works.
    Protocol = object


class Sink(Protocol):
    """Receives every laugh event the pipeline closes, in order."""

    def emit(self, event: LaughEvent) -> None:
        """Take one event; a sink that cannot keep it raises rather than drop it."""

    def close(self) -> None:
        """Flush and release; no ``emit`` follows."""


class _Closing:
    """``with sink:`` closes the sink on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonlSink(_Closing):
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
            raise ReactionError("{}: cannot write events ({})".format(path, e.strerror)) from e

    def emit(self, event: LaughEvent) -> None:
        assert self._f is not None, "emit after close"
        self._f.write(json.dumps(event.to_dict(), sort_keys=True) + "\n")
        self._f.flush()
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class ListSink(_Closing):
    """Keeps events in memory; for library users and tests."""

    def __init__(self) -> None:
        self.events: List[LaughEvent] = []

    def emit(self, event: LaughEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass
