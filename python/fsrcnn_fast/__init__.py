"""fsrcnn_fast: FSRCNN super-resolution on the CPU, fast.

    >>> import numpy as np, fsrcnn_fast
    >>> fsrcnn_fast.upscale(np.zeros((240, 240), np.uint8), scale=3).shape
    (720, 720)
"""

from .api import Model, available_models, cpu_info, set_num_threads, upscale
from .weights.formats import load_weights, save_weights
from .weights.errors import WeightsError

__all__ = ["Model", "upscale", "load_weights", "save_weights", "available_models", "set_num_threads", "cpu_info",
           "WeightsError", "__version__"]
__version__ = "0.1.0"
