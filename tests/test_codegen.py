"""Code generation: deterministic files, sanitised names, a documented header."""

import filecmp
import re

from conftest import mlperf_model
from tinygen.codegen import c_comment, c_identifier
from tinygen.compiler import compile_model
from tinygen.verify import verify_host


def test_compiling_twice_gives_identical_files(tmp_path):
    """Same input, byte-identical output (in different directories, under different names)."""
    model = mlperf_model("kws_ref_model")
    first = compile_model(model, tmp_path / "a", name="kws")
    compile_model(model, tmp_path / "b", name="kws")
    names = sorted(first.library.files)
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == [] and match == names


def test_header_documents_io_arena_and_weights(tmp_path):
    compiled = compile_model(mlperf_model("kws_ref_model"), tmp_path, name="kws")
    header = (tmp_path / "kws.h").read_text()
    assert "int8 [1x49x10x1], 490 bytes, scale 0.5847029" in header
    assert "zero point 83" in header
    assert f"#define KWS_ARENA_BYTES {compiled.arena_bytes}" in header
    assert f"#define KWS_WEIGHTS_BYTES {compiled.weights_bytes}" in header
    assert "int kws_invoke(const int8_t *input0, int8_t *output0);" in header
    assert "int kws_invoke_with_arena(uint8_t *arena, const int8_t *input0, int8_t *output0);" in header


def test_identifiers_and_comments_are_sanitised():
    assert c_identifier("*/ x(); /*") == "x"
    assert c_identifier("3d-model") == "model_3d_model"
    assert c_identifier("int") == "int_"
    assert c_identifier("") == "model"
    assert "*/" not in c_comment("a */ b") and "/*" not in c_comment("/* c") and "\n" not in c_comment("d\ne")


def test_malicious_tensor_name_does_not_change_the_program(tmp_path):
    """A tensor named `*/ x(); /*` (and a model file named like C) reaches C only sanitised:
    the code still compiles and is still bit-exact."""
    data = mlperf_model("ad01_int8").read_bytes()
    original = b"input_1"
    hostile = b"*/x();/"  # same length, so the flatbuffer stays valid
    assert data.count(original) >= 1
    model = tmp_path / "evil*model.tflite"
    model.write_bytes(data.replace(original, hostile))
    out = tmp_path / "lib"
    compile_model(model, out)
    for path in out.iterdir():
        if path.suffix in (".c", ".h"):
            text = path.read_text()
            assert "*/x();" not in text
            # every comment opened is closed before the next one opens
            assert all("/*" not in body for body in re.findall(r"/\*(.*?)\*/", text, flags=re.S))
    assert verify_host(model, count=2, seed=1).bit_exact
