"""IoT connection settings: from options, a config file, or environment variables.

Precedence: command-line options, then the config file, then
``REACTION_IOT_<FIELD>`` environment variables, then defaults. Paths in a
config file are relative to the file. Every bad value raises
``ReactionError`` naming the field and where it came from, e.g.
``port (--port): 65536 is out of range 1..65535``.

File formats: a JSON object (optionally nested under ``"iot"``) or an INI
file with an ``[iot]`` section; keys are the field names of ``IotConfig``.
"""

import collections
import configparser
import json
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from ..types import ReactionError
from .schema import check_id, validate_topic

ENV_PREFIX = "REACTION_IOT_"

# field -> (type, default); None default = required
_FIELDS = collections.OrderedDict(
    [
        ("endpoint", (str, None)),
        ("port", (int, 8883)),
        ("cert", (str, None)),
        ("key", (str, None)),
        ("ca", (str, None)),
        ("client_id", (str, "")),
        ("topic_prefix", (str, "reaction")),
        ("topic", (str, "")),
        ("device_id", (str, "")),
        ("screening_id", (str, "")),
        ("spool_dir", (str, "")),
        ("spool_max_events", (int, 1000000)),
        ("spool_max_mb", (float, 512.0)),
        ("spool_sync", (str, "full")),
        ("spool_full_wait_s", (float, 0.0)),
        ("max_publishes_per_s", (float, 100.0)),
        ("max_batch_events", (int, 500)),
        ("max_inflight", (int, 10)),
        ("backoff_min_s", (int, 1)),
        ("backoff_max_s", (int, 60)),
        ("keep_alive_s", (int, 60)),
        ("ack_timeout_s", (float, 30.0)),
        ("close_timeout_s", (float, 10.0)),
    ]
)
_PATHS = ("cert", "key", "ca", "spool_dir")
# (minimum, maximum) for numbers
_RANGES = {
    "port": (1, 65535),
    "spool_max_events": (1, 10**9),
    "spool_max_mb": (0.001, 10**6),
    "spool_full_wait_s": (0, 86400),
    "max_publishes_per_s": (0.1, 100),
    "max_batch_events": (1, 10000),
    "max_inflight": (1, 1000),
    "backoff_min_s": (1, 3600),
    "backoff_max_s": (1, 3600),
    "keep_alive_s": (30, 1200),
    "ack_timeout_s": (1, 3600),
    "close_timeout_s": (0, 86400),
}
_PEM = {"cert": "CERTIFICATE-----", "ca": "CERTIFICATE-----", "key": "PRIVATE KEY-----"}


@dataclass
class IotConfig:
    """Where and how to publish. Build with :meth:`load` or :meth:`from_sources`.

    Precedence: command-line options, then the config file, then
    ``REACTION_IOT_<FIELD>`` environment variables, then defaults.
    ``sources`` maps each field to where its value came from, for errors.
    """

    endpoint: str
    cert: str
    key: str
    ca: str
    port: int = 8883
    client_id: str = ""
    topic_prefix: str = "reaction"
    topic: str = ""  # full topic override, e.g. the DeepLens route $aws/things/<thing>/infer
    device_id: str = ""
    screening_id: str = ""
    spool_dir: str = ""
    spool_max_events: int = 1000000
    spool_max_mb: float = 512.0
    spool_sync: str = "full"
    spool_full_wait_s: float = 0.0
    max_publishes_per_s: float = 100.0
    max_batch_events: int = 500
    max_inflight: int = 10
    backoff_min_s: int = 1
    backoff_max_s: int = 60
    keep_alive_s: int = 60
    ack_timeout_s: float = 30.0
    close_timeout_s: float = 10.0
    sources: Dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: str, env: Optional[Mapping[str, str]] = None) -> "IotConfig":
        """Config file (JSON object or INI ``[iot]`` section) over environment variables."""
        return cls.from_sources(path=path, env=env)

    @classmethod
    def from_sources(
        cls,
        options: Optional[Mapping[str, object]] = None,
        path: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> "IotConfig":
        env = os.environ if env is None else env
        raw: Dict[str, Tuple[object, str]] = {}  # field -> (value, source label)
        for name in _FIELDS:
            if env.get(ENV_PREFIX + name.upper()):
                raw[name] = (env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper())
        if path:
            base = os.path.dirname(os.path.abspath(path))
            for name, value in _read_file(path).items():
                if name in _PATHS and isinstance(value, str) and value:
                    value = os.path.join(base, os.path.expanduser(value))  # relative to the file
                raw[name] = (value, "in " + path)
        for name, value in (options or {}).items():
            if name not in _FIELDS:
                raise ReactionError("unknown IoT option {!r}".format(name))
            if value is not None and value != "":
                raw[name] = (value, "--" + name.replace("_", "-"))
        values: Dict[str, Any] = {}  # field -> value of the field's type, for cls(**values)
        sources: Dict[str, str] = {}
        for name, (kind, default) in _FIELDS.items():
            if name not in raw:
                if default is None:
                    raise ReactionError(
                        "{}: required (give --{}, '{}' in the config file, or {}{})".format(
                            name, name.replace("_", "-"), name, ENV_PREFIX, name.upper()
                        )
                    )
                values[name], sources[name] = default, "default"
                continue
            value, src = raw[name]
            values[name], sources[name] = _coerce(name, kind, value, src), src
        cfg = cls(sources=sources, **values)
        cfg.validate()
        return cfg

    def where(self, name: str) -> str:
        """``port (--port)``, ``port (in iot.json)``, ``port (REACTION_IOT_PORT)``: for error messages."""
        return "{} ({})".format(name, self.sources.get(name, "default"))

    def validate(self) -> None:
        """Raise ReactionError naming the first bad field."""
        if not self.endpoint or "://" in self.endpoint or "/" in self.endpoint:
            raise ReactionError(
                "{}: {!r} is not a host name (no scheme, no path)".format(self.where("endpoint"), self.endpoint)
            )
        for name, (lo, hi) in _RANGES.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ReactionError("{}: {} is out of range {}..{}".format(self.where(name), v, lo, hi))
        if self.backoff_min_s > self.backoff_max_s:
            raise ReactionError(
                "{}: {} exceeds backoff_max_s {}".format(
                    self.where("backoff_min_s"), self.backoff_min_s, self.backoff_max_s
                )
            )
        for name in ("cert", "key", "ca"):
            _check_pem(self.where(name), getattr(self, name), _PEM[name])
        if not self.client_id:
            self.client_id = "reaction-" + re.sub(r"[^A-Za-z0-9_.:-]", "-", socket.gethostname())[:100]
        if len(self.client_id) > 128:
            raise ReactionError("{}: longer than 128 characters".format(self.where("client_id")))
        if self.spool_sync not in ("full", "normal"):
            raise ReactionError("{}: {!r} is not 'full' or 'normal'".format(self.where("spool_sync"), self.spool_sync))
        if self.topic:
            validate_topic(self.topic, self.where("topic"))
        validate_topic(self.topic_prefix.strip("/") + "/d/s/laughs", self.where("topic_prefix"))
        for name in ("device_id", "screening_id"):
            if getattr(self, name):
                check_id(getattr(self, name), self.where(name))


def _coerce(name: str, kind: type, value: object, src: str) -> object:
    label = "{} ({})".format(name, src)
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value.strip()
        if isinstance(value, bool):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ReactionError(
            "{}: {!r} is not a{} {}".format(
                label, value, "n" if kind is int else "", {int: "integer", float: "number", str: "string"}[kind]
            )
        ) from None


def _read_file(path: str) -> Dict[str, object]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ReactionError("{}: cannot read IoT config ({})".format(path, e.strerror)) from e
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ReactionError("{}: not valid JSON ({})".format(path, e)) from e
        if isinstance(data, dict) and isinstance(data.get("iot"), dict):
            data = data["iot"]
        if not isinstance(data, dict):
            raise ReactionError("{}: expected a JSON object of IoT settings".format(path))
    else:
        parser = configparser.ConfigParser()
        try:
            parser.read_string(text, source=path)
        except configparser.Error as e:
            raise ReactionError("{}: not a valid INI file ({})".format(path, str(e).splitlines()[0])) from e
        if not parser.has_section("iot"):
            raise ReactionError("{}: no [iot] section".format(path))
        data = dict(parser.items("iot"))
    for name in data:
        if name not in _FIELDS:
            raise ReactionError("{}: unknown field {!r} (known: {})".format(path, name, ", ".join(_FIELDS)))
    return data


def _check_pem(label: str, path: str, marker: str) -> None:
    if not os.path.exists(path):
        raise ReactionError("{}: {}: no such file".format(label, path))
    if os.path.isdir(path):
        raise ReactionError("{}: {}: is a directory, not a PEM file".format(label, path))
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as e:
        raise ReactionError("{}: {}: cannot read ({})".format(label, path, e.strerror)) from e
    if marker.encode() not in head:
        raise ReactionError("{}: {}: not a PEM file with '-----BEGIN ...{}'".format(label, path, marker))
