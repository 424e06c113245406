"""Laugh events to AWS IoT Core over MQTT with mutual TLS, with a durable outbox.

* :mod:`.schema`: the wire format (event JSON, batches, topics, ids);
* :mod:`.config`: :class:`IotConfig`, from options, a file or the environment;
* :mod:`.spool`: the SQLite outbox that survives crashes and outages;
* :mod:`.sink`: :class:`IotSink`, a pipeline sink that publishes from the spool;
* :mod:`.publish`: sending a finished analysis's events.

Importing this package does not import awsiotsdk: the DeepLens Lambda uses
:mod:`.schema` alone.
"""
