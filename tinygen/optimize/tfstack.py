"""TensorFlow, Keras 2 and TF Model Optimization, imported the one way they work together
(and quietly).

tfmot 0.8 works only with Keras 2 (the `tf_keras` package; given a Keras 3 model some of
its calls silently return None). TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is
first imported so that `tf.keras`, the TFLite converter and tfmot all see Keras 2. Every
module of tinygen.optimize that needs TensorFlow imports it from here; nothing outside
tinygen.optimize imports this module at import time.
"""

import contextlib
import os
import sys
import warnings


@contextlib.contextmanager
def native_stderr_silenced():
    """Silence what C++ code writes to the process's stderr: TensorFlow's start-up banners
    and the converter's log lines, which TF_CPP_MIN_LOG_LEVEL does not reach. Python
    exceptions still carry every error."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

with native_stderr_silenced(), warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # tfmot still uses distutils
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

tf.get_logger().setLevel("ERROR")

__all__ = ["keras", "native_stderr_silenced", "tf", "tfmot"]
