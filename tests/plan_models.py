"""Small Keras models that exercise every trick of the memory planner (seeded, converted
to full int8 with tests/modelgen.py): each layer under test has its input and output in
the arena, and its input dies there."""

from __future__ import annotations

from pathlib import Path

from modelgen import convert_int8, keras, randomize_weights


def _build(inputs, outputs, path: Path, seed: int) -> Path:
    k = keras()
    model = k.Model(inputs, outputs)
    randomize_weights(model, seed)
    return convert_int8(model, path, seed=seed)


# The streaming layers of `kernels_model`, by the name of their Keras layer.
STREAMING_LAYERS = ("depthwise_test", "strided_depthwise_test", "conv3x3_test", "pointwise_test", "max_pool_test",
                    "average_pool_test", "tanh_test", "add_test", "mean_test", "dense_test", "softmax_test")


def kernels_model(path: Path, seed: int = 0) -> Path:
    """Every streaming kernel on a branch of its own: a layer that puts its input in the
    arena, the kernel (a Keras layer named in STREAMING_LAYERS), and a layer that mixes
    its output into a graph output, so that a change of any one output value of the
    kernel shows. Image branches read a 1x8x8x4 input, vector branches a 1x16 one."""
    k = keras()
    k.utils.set_random_seed(seed)
    image = k.Input(shape=(8, 8, 4), batch_size=1)
    vector = k.Input(shape=(16,), batch_size=1)

    def pre():
        return k.layers.Conv2D(8, 1)(image)

    def post(y):
        return k.layers.Conv2D(4, 1)(y)

    outputs = [
        post(k.layers.DepthwiseConv2D(3, padding="same", name="depthwise_test")(pre())),
        post(k.layers.DepthwiseConv2D(3, strides=2, padding="same", name="strided_depthwise_test")(pre())),
        post(k.layers.Conv2D(8, 3, padding="same", name="conv3x3_test")(pre())),
        post(k.layers.Conv2D(8, 1, name="pointwise_test")(pre())),
        post(k.layers.MaxPooling2D(2, name="max_pool_test")(pre())),
        post(k.layers.AveragePooling2D(2, name="average_pool_test")(pre())),
        post(k.layers.Activation("tanh", name="tanh_test")(pre())),
    ]
    first = pre()
    outputs.append(post(k.layers.Add(name="add_test")([first, k.layers.Conv2D(8, 1)(first)])))
    outputs.append(k.layers.Dense(4)(k.layers.GlobalAveragePooling2D(name="mean_test")(pre())))
    outputs.append(k.layers.Dense(4)(k.layers.Dense(16, name="dense_test")(k.layers.Dense(16)(vector))))
    outputs.append(k.layers.Dense(4)(k.layers.Softmax(name="softmax_test")(k.layers.Dense(16)(vector))))
    return _build([image, vector], outputs, path, seed)


def concatenation_model(path: Path, seed: int = 0) -> Path:
    """Two dense branches concatenated along the last axis of [1, n] tensors (contiguous
    slices), then a dense layer."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(16,), batch_size=1)
    a = k.layers.Dense(12, activation="relu")(x)
    b = k.layers.Dense(20, activation="relu")(x)
    y = k.layers.Concatenate()([a, b])
    y = k.layers.Dense(5)(y)
    return _build(x, y, path, seed)


def branched_model(path: Path, seed: int = 0) -> Path:
    """Two dense branches, each a wide layer then a narrow one, added: the model may run
    both wide layers before the narrow ones; the planner runs each branch to its end."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(16,), batch_size=1)
    branches = [k.layers.Dense(4)(k.layers.Dense(96, activation="relu")(x)) for _ in range(2)]
    y = k.layers.Dense(3)(k.layers.Add()(branches))
    return _build(x, y, path, seed)
