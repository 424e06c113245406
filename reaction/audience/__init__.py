"""The audience answer: screenings pooled into one report in film time, and the store ``reaction collect`` fills.

``inputs`` reads run folders, manifests and scene lists; ``stats`` pools the
screenings (laugh curve with a bootstrap band, moments, scenes, comparison);
``plots`` and ``page`` draw and write the self-contained HTML; ``build``
writes every output of ``reaction report``. Nothing here imports MXNet.
"""
