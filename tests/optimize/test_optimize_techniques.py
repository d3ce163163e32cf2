"""Each technique on the small CNN: what it promises holds in the fine-tuned Keras model
and still holds in the int8 .tflite (sparsity, distinct values per tensor or channel),
the collaborative QAT modes keep it, and layers tfmot cannot handle are reported."""

import tinygen
from optimize_support import int8_kernels, is_depthwise, small_model  # noqa: F401  (a fixture)
from tinygen.compiler import compile_model
from tinygen.frontend import tflite as tflite_frontend


def optimize_small(small_model, tmp_path, **options):
    return tinygen.optimize(small_model["model"], small_model["train"], tmp_path / "small_int8.tflite",
                            val=small_model["val"], epochs=2, progress=lambda message: None, **options)


def step_named(result, name):
    return next(step for step in result.steps if step.step == name)


def prunable(kernels):
    return [kernel for kernel in kernels if not is_depthwise(kernel.name)]


def assert_at_most_per_tensor_or_channel(tflite_path, clusters):
    """A kernel quantized per tensor holds at most `clusters` int8 values; one quantized
    per channel at most `clusters` in each channel."""
    for stats, per_channel in int8_kernels(tflite_path):
        if not is_depthwise(stats.name):
            count = stats.max_distinct_per_channel if per_channel else stats.distinct
            assert count <= clusters, stats


def test_pruning_reaches_the_target_and_survives_int8(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, prune=0.6)
    pruned = step_named(result, "prune 60%")
    for kernel in prunable(pruned.kernels):
        assert kernel.zeros / kernel.elements >= 0.6 - 1 / kernel.elements, kernel
    assert any("DepthwiseConv2D" in item for item in pruned.skipped)
    int8 = [stats for stats, _ in int8_kernels(result.output)]
    for float_kernel, int8_kernel in zip(prunable(pruned.kernels), prunable(int8), strict=True):
        assert int8_kernel.elements == float_kernel.elements
        assert int8_kernel.zeros >= float_kernel.zeros, (float_kernel, int8_kernel)


def test_clustering_bounds_distinct_values_per_tensor(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, clusters=8)
    clustered = step_named(result, "cluster 8")
    assert all(kernel.distinct <= 8 for kernel in prunable(clustered.kernels))
    assert any("DepthwiseConv2D" in item for item in clustered.skipped)
    assert_at_most_per_tensor_or_channel(result.output, 8)


def test_clustering_per_channel_bounds_each_conv_channel(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, clusters=4, cluster_per_channel=True)
    clustered = step_named(result, "cluster 4/channel")
    assert all(kernel.max_distinct_per_channel <= 4 for kernel in prunable(clustered.kernels))
    assert_at_most_per_tensor_or_channel(result.output, 4)


def test_cqat_keeps_the_clusters_through_int8(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, clusters=8, qat=True)
    assert [step.step for step in result.steps] == ["float", "cluster 8", "cqat", "int8 (cqat)"]
    assert_at_most_per_tensor_or_channel(result.output, 8)


def test_pqat_keeps_the_zeros_through_int8(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, prune=0.5, qat=True)
    assert [step.step for step in result.steps] == ["float", "prune 50%", "pqat", "int8 (pqat)"]
    pruned = step_named(result, "prune 50%")
    int8 = [stats for stats, _ in int8_kernels(result.output)]
    for float_kernel, int8_kernel in zip(prunable(pruned.kernels), prunable(int8), strict=True):
        assert int8_kernel.zeros >= float_kernel.zeros, (float_kernel, int8_kernel)


def test_qat_with_float_io_keeps_float_edges(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, qat=True, float_io=True)
    assert [step.step for step in result.steps] == ["float", "qat", "int8 (qat)"]
    graph = tflite_frontend.load(result.output)
    assert graph.tensors[graph.inputs[0]].dtype == "float32" and graph.tensors[graph.outputs[0]].dtype == "float32"
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.kind for op in graph.ops}
    assert result.steps[-1].metric is not None


def test_ptq_alone_gives_int8_io_and_reports_tinygens_flash(small_model, tmp_path):
    result = optimize_small(small_model, tmp_path, ptq=True)
    float_row, int8_row = result.steps
    assert (float_row.step, int8_row.step) == ("float", "int8 (ptq)")
    graph = tflite_frontend.load(result.output)
    assert graph.tensors[graph.inputs[0]].dtype == "int8" and graph.tensors[graph.outputs[0]].dtype == "int8"
    assert int8_row.flash_bytes == compile_model(result.output).weights_bytes
    assert int8_row.metric_name == "accuracy" and int8_row.metric >= float_row.metric - 0.05
    assert int8_row.params == float_row.params


def test_block_pruning_leaves_pair_blocks_that_tinygen_skips(small_model, tmp_path):
    """With prune_blocks, each Dense kernel loses whole blocks of 4 inputs x 2 outputs (2 rows
    by 4 values of the int8 FULLY_CONNECTED filter), about half of them; `--weights sparse`
    stores those filters as pair blocks, bit-exact with TFLM."""
    from tinygen.compiler import plan_model
    from tinygen.verify import verify_host
    from tinygen.weights import PAIR_BLOCKS

    result = optimize_small(small_model, tmp_path, prune=0.5, prune_blocks=True)
    layers = [layer for layer in plan_model(result.output, weights="sparse").layers
              if layer.op.kind == "FULLY_CONNECTED"]
    assert len(layers) == 2
    for layer in layers:
        rows = layer.filter_encoding
        assert rows.positions == PAIR_BLOCKS, rows.describe()
        assert 0.4 <= 1 - rows.entries / rows.dense_bytes <= 0.6, rows.describe()  # empty blocks' share
    assert verify_host(result.output, count=3, seed=5, weights="sparse").bit_exact
