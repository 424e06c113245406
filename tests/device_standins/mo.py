"""Stand-in for the DeepLens model optimiser ``mo``, for tests only.

The test chooses the outcome with :func:`configure`: an error code, or
success with the path of an "optimised" model that the stand-in
``awscam.Model`` maps back to the exported MXNet files beside it.
"""
import os

calls = []  # type: list
_error = 0
_models_dir = "/opt/awscam/artifacts"


def configure(error=0, models_dir=None):
    global _error, _models_dir
    _error = error
    if models_dir is not None:
        _models_dir = models_dir
    del calls[:]


def optimize(model_name, input_width, input_height, platform="mxNet", aux_inputs=None):
    """``(error, model_path)`` as the device's ``mo.optimize`` returns them."""
    calls.append((model_name, input_width, input_height, platform, dict(aux_inputs or {})))
    if _error:
        return _error, ""
    return 0, os.path.join(_models_dir, model_name + ".xml")
