"""Stand-in for the Greengrass Core SDK, for tests only: publishes are recorded.

It keeps the real ``greengrasssdk`` 1.6.1 contract of ``IoTDataPlane.publish``
(``greengrasssdk/IoTDataPlane.py`` in the wheel the Lambda zip packs):
``queueFullPolicy`` defaults to ``''``, ``'AllOrException'`` and
``'BestEffort'`` are the other accepted values, and anything else raises
``ValueError``. While Greengrass's queue is full (``queue_full``), only
``'AllOrException'`` makes the publish raise; with ``''`` or
``'BestEffort'`` the message is dropped and the call returns ``None``, as
the real SDK leaves the full queue to Greengrass and raises nothing.
"""
clients = []  # type: list


class InvocationException(Exception):
    """What the real SDK raises when Greengrass refuses the publish."""


class Client:
    def __init__(self, name):
        self.name = name
        self.published = []  # type: list  # (topic, payload)
        self.dropped = []  # type: list  # (topic, payload) lost to a full queue without an error
        self.queue_full = 0  # the next this many publishes find the queue full
        self.policies = []  # type: list  # queueFullPolicy of every publish call

    def publish(self, **kwargs):
        topic = kwargs["topic"]
        payload = kwargs.get("payload", b"")
        policy = kwargs.get("queueFullPolicy", "")
        if policy not in ("AllOrException", "BestEffort", ""):
            raise ValueError("Invalid value for queueFullPolicy: {}".format(policy))
        self.policies.append(policy)
        if self.queue_full:
            self.queue_full -= 1
            if policy == "AllOrException":
                raise InvocationException("Failed to invoke function due to stand-in: Greengrass queue full")
            self.dropped.append((topic, payload))
            return None
        self.published.append((topic, payload))
        return None


def client(name):
    c = Client(name)
    clients.append(c)
    return c
