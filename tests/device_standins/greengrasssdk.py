"""Stand-in for the Greengrass Core SDK, for tests only: publishes are recorded."""
clients = []  # type: list


class Client:
    def __init__(self, name):
        self.name = name
        self.published = []  # type: list  # (topic, payload)
        self.fail_next = 0

    def publish(self, topic, payload=b"", queueFullPolicy="AllOrException"):
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("stand-in: Greengrass queue full")
        self.published.append((topic, payload))


def client(name):
    c = Client(name)
    clients.append(c)
    return c
