"""Tests of the tinv Python package (ctypes bindings of libtinv).

Run: PYTHONPATH=python TINV_LIBRARY=build/libtinv.so.0 python3 -m pytest -q python/tests
"""

import array
import gc
import json
import os
import struct
import subprocess
import sys
import weakref

import pytest

import tinv
import tinv._arrays

try:
    import numpy as np
except ImportError:  # the numpy-free path is still tested below
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")

BOS, EOS = 49406, 49407
CAT_IDS = [BOS, 320, 1125, 539, 320, 2368, EOS]  # "a photo of a cat" (checked with build/tinv tokenize)


# ---- a tiny safetensors reader (struct + json + numpy.frombuffer) ------------------------------
_ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1",
              "I8": "i1", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[base + begin:base + end], dtype=np.dtype(_ST_DTYPES[info["dtype"]]))
        out[name] = arr.reshape(info["shape"])
    return out


def rel_err(x, ref):
    """max|x - ref| / max|ref|, computed in float64."""
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert x.shape == ref.shape
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


# ---- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(sd1_dir):
    with tinv.Model(sd1_dir) as m:
        yield m


@pytest.fixture
def tok(sd1_dir):
    with tinv.Tokenizer(sd1_dir) as t:
        yield t


# ---- runtime ----------------------------------------------------------------------------------
def test_version_and_runtime():
    v = tinv.version()
    assert v == "%d.%d.%d" % tinv.version_info()
    assert tinv.version_info()[0] == 0
    assert v == tinv.__version__
    info = tinv.runtime_info()
    assert info.startswith("libtinv " + v) and "libtorch" in info and "\n" not in info
    assert os.path.basename(tinv.library_path()).startswith("libtinv.so")
    assert tinv.cuda_device_count() >= 0


def test_num_threads():
    before = tinv.get_num_threads()
    try:
        tinv.set_num_threads(2)
        assert tinv.get_num_threads() == 2
        assert "threads 2" in tinv.runtime_info()
        with pytest.raises(tinv.InvalidArgumentError):
            tinv.set_num_threads(-1)
    finally:
        tinv.set_num_threads(before)


def test_status_strings():
    assert tinv.status_str(0) == "ok"
    assert tinv.status_str(tinv.Status.INVALID_ARGUMENT) == "invalid argument"
    assert str(tinv.NumericError()) == tinv.status_str(tinv.Status.NUMERIC)


# ---- errors -----------------------------------------------------------------------------------
def test_status_maps_to_subclasses():
    expected = {
        1: tinv.InvalidArgumentError, 2: tinv.TinvIOError, 3: tinv.BadFormatError,
        4: tinv.UnsupportedError, 5: tinv.OutOfMemoryError, 6: tinv.DeviceError,
        7: tinv.CancelledError, 8: tinv.NumericError, 9: tinv.InternalError,
    }
    for status, cls in expected.items():
        err = tinv.errors.error_for_status(status, "msg %d" % status)
        assert type(err) is cls and isinstance(err, tinv.Error)
        assert err.status == status and cls.status == status
        assert err.message == str(err) == "msg %d" % status
    future = tinv.errors.error_for_status(42, "new code")
    assert type(future) is tinv.Error and future.status == 42
    assert issubclass(tinv.TinvIOError, OSError)
    assert issubclass(tinv.InvalidArgumentError, ValueError)


def test_bad_device():
    with pytest.raises(tinv.InvalidArgumentError) as ei:
        tinv.device_check("gpu")
    assert ei.value.status == tinv.Status.INVALID_ARGUMENT
    assert "gpu" in ei.value.message
    tinv.device_check("cpu")  # no exception
    if tinv.cuda_device_count() == 0:
        with pytest.raises(tinv.DeviceError) as ei:
            tinv.device_check("cuda:0")
        assert ei.value.status == tinv.Status.DEVICE and "CUDA" in ei.value.message
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.Model("/nonexistent-model", device="tpu")  # refused before anything is read


def test_missing_model_path(tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(tinv.TinvIOError) as ei:
        tinv.Model(missing)
    assert ei.value.status == tinv.Status.IO
    assert missing in ei.value.message
    with pytest.raises(tinv.TinvIOError) as ei:
        tinv.Tokenizer(missing)
    assert ei.value.message


def test_bad_dtype_and_pickle(tmp_path):
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.Model("/nonexistent-model", dtype="int8")
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not really a pickle")
    with pytest.raises(tinv.Error) as ei:
        tinv.Model(str(ckpt))
    assert ei.value.message


def test_bad_library_path_is_reported():
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(tinv.__file__)))
    pythonpath = os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TINV_LIBRARY="/nonexistent/libtinv.so.0", PYTHONPATH=pythonpath)
    code = "import tinv\ntry:\n    tinv.version()\nexcept OSError as e:\n    print('ERR', e)\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ERR cannot load libtinv" in out.stdout and "/nonexistent/libtinv.so.0" in out.stdout


# ---- tokenizer --------------------------------------------------------------------------------
def test_tokenizer_known_ids(tok):
    assert tok.vocab_size == len(tok) == 49408
    assert tok.max_length == 77
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (BOS, EOS, EOS)
    ids = tok.encode("a photo of a cat")
    assert ids == CAT_IDS + [EOS] * (77 - len(CAT_IDS))
    assert tok.encode("a photo of a cat", pad=False) == CAT_IDS
    assert tok.encode(b"a photo of a cat", pad=False) == CAT_IDS
    ids2, mask = tok.encode("a photo of a cat", mask=True)
    assert ids2 == ids and mask == [1] * 7 + [0] * 70
    assert tok.token_to_id("cat</w>") == 2368
    assert tok.id_to_token(2368) == "cat</w>"
    assert tok.id_to_token(BOS) == "<|startoftext|>"
    assert tok.decode(CAT_IDS) == "<|startoftext|>a photo of a cat <|endoftext|>"
    assert tok.decode([320, 1125, 539, 320, 2368]) == "a photo of a cat"
    with pytest.raises(tinv.InvalidArgumentError):
        tok.token_to_id("definitely-not-a-token</w>")
    with pytest.raises(tinv.InvalidArgumentError):
        tok.id_to_token(10**6)
    with pytest.raises(tinv.InvalidArgumentError):
        tok.decode([10**6])


@needs_numpy
def test_tokenizer_numpy(tok):
    arr = tok.encode("a photo of a cat", as_numpy=True)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.int32 and arr.shape == (77,)
    assert arr[:7].tolist() == CAT_IDS
    batch = tok.encode_batch(["a photo of a cat", "a dog"])
    assert batch.dtype == np.int32 and batch.shape == (2, 77)
    assert tok.decode(np.array(CAT_IDS, dtype=np.int64)) == tok.decode(CAT_IDS)


def test_tokenizer_added_tokens(tok):
    assert tok.add_token("<cat-toy>") == 49408
    assert tok.add_tokens(["<a>", "<b>"]) == [49409, 49410]
    assert tok.vocab_size == 49411
    assert tok.token_to_id("<cat-toy>") == 49408
    assert tok.id_to_token(49410) == "<b>"
    assert tok.encode("a photo of a <cat-toy>", pad=False) == [BOS, 320, 1125, 539, 320, 49408, EOS]
    with pytest.raises(tinv.InvalidArgumentError) as ei:
        tok.add_token("<cat-toy>")
    assert "49408" in ei.value.message  # the message gives the existing id
    with pytest.raises(tinv.InvalidArgumentError):
        tok.add_token("")
    assert tok.vocab_size == 49411


def test_tokenizer_bad_text(tok):
    with pytest.raises(tinv.InvalidArgumentError) as ei:
        tok.encode(b"a \xff cat")
    assert ei.value.message
    with pytest.raises(tinv.InvalidArgumentError):
        tok.encode("a\ud800cat")  # lone surrogate: invalid UTF-8 for the library
    with pytest.raises(tinv.InvalidArgumentError):
        tok.encode("a\0cat")  # would silently truncate the C string


def test_tokenizer_golden(sd1_dir, report):
    path = os.path.join(sd1_dir, "golden", "tokenizer.jsonl")
    require_file(path)
    cases = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    toks = {}
    bad = []
    try:
        for case in cases:
            key = tuple(case["added_tokens"])
            if key not in toks:
                toks[key] = tinv.Tokenizer(sd1_dir)
                toks[key].add_tokens(list(key))
            t = toks[key]
            if t.encode(case["prompt"]) != case["ids"] or t.encode(case["prompt"], pad=False) != case["ids_unpadded"]:
                bad.append(case["prompt"])
            elif [t.id_to_token(i) for i in case["ids_unpadded"]] != case["tokens"]:
                bad.append(case["prompt"])
    finally:
        for t in toks.values():
            t.close()
    report.append("python golden tokenizer: %d/%d prompts match" % (len(cases) - len(bad), len(cases)))
    assert not bad, "mismatching prompts: %r" % bad[:5]


def require_file(path):
    from conftest import require
    return require(path, os.path.basename(path))


# ---- logging ----------------------------------------------------------------------------------
def test_log_callback_receives_truncation_warning(sd1_dir):
    messages = []
    prompt = " ".join(["cat"] * 100)
    with tinv.Tokenizer(sd1_dir, log=lambda level, msg: messages.append((level, msg))) as t:
        ids = t.encode(prompt)
        assert len(ids) == 77 and ids[-1] == EOS
        assert any(level == tinv.LogLevel.WARN and "truncated" in msg for level, msg in messages), messages
        assert all(isinstance(m, str) for _, m in messages)
        # turned off
        messages.clear()
        t.set_log_callback(None)
        t.encode(prompt)
        assert messages == []
        # set on an existing handle, with a level filter
        t.set_log_callback(lambda level, msg: messages.append((level, msg)), level="error")
        t.encode(prompt)
        assert messages == []  # a warning is above "error"
        t.set_log_callback(lambda level, msg: messages.append((level, msg)), level=tinv.LogLevel.DEBUG)
        t.encode(prompt)
        assert messages


def test_log_callback_exception_does_not_propagate(sd1_dir, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))

    def bad(level, msg):
        raise RuntimeError("boom from the callback")

    with tinv.Tokenizer(sd1_dir, log=bad) as t:
        ids = t.encode(" ".join(["cat"] * 100))  # logs a warning -> callback raises
        assert len(ids) == 77
        assert t.encode("a photo of a cat", pad=False) == CAT_IDS  # handle still fine
    assert seen and isinstance(seen[0], RuntimeError) and "boom" in str(seen[0])


def test_log_callback_kept_alive(sd1_dir):
    messages = []
    t = tinv.Tokenizer(sd1_dir)
    t.set_log_callback(lambda level, msg: messages.append(msg))
    gc.collect()  # the lambda's only owner is the handle; it must survive
    t.encode(" ".join(["cat"] * 100))
    assert messages
    t.close()


def test_model_log_callback(sd1_dir):
    messages = []
    with tinv.Model(sd1_dir, log=lambda level, msg: messages.append((level, msg)), log_level="info") as m:
        assert m.latent_channels == 4
    assert any(level == tinv.LogLevel.INFO and "loading" in msg for level, msg in messages), messages


# ---- handle lifetime --------------------------------------------------------------------------
def test_close_twice_and_use_after_close(sd1_dir):
    t = tinv.Tokenizer(sd1_dir)
    assert not t.closed
    t.close()
    t.close()  # harmless
    assert t.closed and "closed" in repr(t)
    for use in (lambda: t.vocab_size, lambda: t.encode("a cat"), lambda: t.decode([320]),
                lambda: t.add_token("<x>"), lambda: t.set_log_callback(None)):
        with pytest.raises(tinv.Error) as ei:
            use()
        assert ei.value.status == tinv.Status.INVALID_ARGUMENT and "closed" in ei.value.message
    with pytest.raises(tinv.Error):
        with t:
            pass

    with tinv.Tokenizer(sd1_dir) as t2:
        assert t2.encode("a photo of a cat", pad=False) == CAT_IDS
    assert t2.closed
    t2.close()


def test_model_close_twice_and_use_after_close(sd1_dir):
    m = tinv.Model(sd1_dir)
    m.close()
    m.close()
    with pytest.raises(tinv.Error):
        m.context_dim
    with pytest.raises(tinv.Error):
        m.encode_text([CAT_IDS])


def test_freed_on_garbage_collection(sd1_dir):
    t = tinv.Tokenizer(sd1_dir, log=lambda level, msg: None)
    fin = t._finalizer
    ref = weakref.ref(t)
    assert fin.alive
    del t
    gc.collect()
    assert ref() is None and not fin.alive


# ---- model ------------------------------------------------------------------------------------
def test_model_properties(model):
    assert model.hidden_size == model.text_hidden_size == 32
    assert model.max_length == 77
    assert model.vocab_size == 49408
    assert model.context_dim == 32
    assert model.latent_channels == 4
    assert model.vae_scale_factor == 8
    assert model.unet_size_multiple >= 1
    assert model.scaling_factor == pytest.approx(0.18215)
    assert model.get_int(tinv.ModelProperty.CONTEXT_DIM) == 32


@needs_numpy
def test_model_shapes(model, tok):
    ids = tok.encode_batch(["a photo of a cat", "a dog"])
    hidden = model.encode_text(ids)
    assert hidden.shape == (2, 77, 32) and hidden.dtype == np.float32
    hidden2, pooled = model.encode_text(ids, pooled=True)
    assert pooled.shape == (2, 32)
    assert np.array_equal(hidden, hidden2)
    one = model.encode_text(tok.encode("a photo of a cat"))  # 1-D: one prompt
    assert one.shape == (1, 77, 32)
    np.testing.assert_allclose(one[0], hidden[0], rtol=0, atol=1e-5)

    rng = np.random.default_rng(0)
    sample = rng.standard_normal((2, 4, 16, 16), dtype=np.float32)
    out = model.unet(sample, 500, hidden)
    assert out.shape == sample.shape and out.dtype == np.float32 and np.isfinite(out).all()
    out_vec = model.unet(sample, [500, 500], hidden)
    np.testing.assert_allclose(out_vec, out, rtol=0, atol=1e-5)

    image = rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    mean, logvar = model.vae_encode(image)
    assert mean.shape == logvar.shape == (1, 4, 8, 8)
    assert logvar.min() >= -30 and logvar.max() <= 20
    decoded = model.vae_decode(mean)
    assert decoded.shape == (1, 3, 64, 64) and np.isfinite(decoded).all()


@needs_numpy
def test_model_input_conversion(model):
    rng = np.random.default_rng(1)
    sample = rng.standard_normal((1, 4, 16, 16), dtype=np.float32)
    context = rng.standard_normal((1, 77, 32), dtype=np.float32)
    ref = model.unet(sample, 250.0, context)
    # float64, non-contiguous (transposed twice), nested lists: converted, same result
    s64 = np.ascontiguousarray(sample.astype(np.float64).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not s64.flags.c_contiguous
    np.testing.assert_array_equal(model.unet(s64, np.float64(250), context.tolist()), ref)
    np.testing.assert_array_equal(model.unet(sample, np.array([250], dtype=np.int64), context), ref)
    # int64 ids are converted
    ids = np.array([CAT_IDS], dtype=np.int64)
    np.testing.assert_array_equal(model.encode_text(ids), model.encode_text(ids.astype(np.int32)))


@needs_numpy
def test_model_shape_errors(model):
    ctx = np.zeros((1, 77, 32), np.float32)
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((4, 16, 16), np.float32), 1, ctx)  # 3-D sample
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((1, 3, 16, 16), np.float32), 1, ctx)  # wrong channels
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((1, 4, 16, 16), np.float32), 1, np.zeros((1, 77, 16), np.float32))
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((2, 4, 16, 16), np.float32), 1, ctx)  # batch mismatch
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((1, 4, 16, 16), np.float32), [1, 2, 3], ctx)  # timesteps: neither 1 nor batch
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(np.zeros((1, 4, 16, 16), np.float32), 1, np.array(["x"]))
    with pytest.raises(tinv.InvalidArgumentError):
        model.vae_encode(np.zeros((1, 3, 60, 64), np.float32))  # not a multiple of 8
    with pytest.raises(tinv.InvalidArgumentError):
        model.vae_decode(np.zeros((1, 3, 8, 8), np.float32))  # wrong channels
    with pytest.raises(tinv.InvalidArgumentError):
        model.encode_text([[BOS] * 78])  # longer than the text encoder's 77 positions
    with pytest.raises(tinv.InvalidArgumentError):
        model.encode_text([[10**6]])  # id out of the vocabulary
    with pytest.raises(tinv.InvalidArgumentError):
        model.encode_text(np.array([[2**40]], dtype=np.int64))  # not an int32


@needs_numpy
def test_without_numpy(model, monkeypatch):
    """Plain `array`/bytes/lists with explicit shapes when numpy is unavailable."""
    rng = np.random.default_rng(2)
    sample = rng.standard_normal((2, 4, 16, 16), dtype=np.float32)
    ids = np.array([CAT_IDS + [EOS] * 70, [BOS, 320, 1929, EOS] + [EOS] * 73], dtype=np.int32)
    hidden_ref = model.encode_text(ids)
    unet_ref = model.unet(sample, 500, hidden_ref)

    monkeypatch.setattr(tinv._arrays, "np", None)
    hidden = model.encode_text(ids.ravel().tolist(), batch=2)
    assert isinstance(hidden, memoryview) and hidden.format == "f" and hidden.shape == (2, 77, 32)
    assert np.array_equal(np.asarray(hidden), hidden_ref)
    assert isinstance(hidden.tolist()[1][5][3], float)
    flat = array.array("f", sample.tobytes())
    out = model.unet(flat, 500, hidden, shape=(2, 4, 16, 16))
    assert out.shape == (2, 4, 16, 16)
    assert np.array_equal(np.asarray(out), unet_ref)
    out_bytes = model.unet(sample.tobytes(), [500.0, 500.0], hidden_ref.tobytes(), shape=(2, 4, 16, 16))
    assert np.array_equal(np.asarray(out_bytes), unet_ref)
    out_lists = model.unet(sample.tolist(), 500, hidden_ref.tolist())
    assert np.array_equal(np.asarray(out_lists), unet_ref)
    with pytest.raises(tinv.InvalidArgumentError):
        model.unet(flat, 500, hidden)  # flat data without a shape
    mean, logvar = model.vae_encode([[[[0.0] * 16] * 16] * 3])
    assert mean.shape == logvar.shape == (1, 4, 2, 2)
    assert model.encode_text(CAT_IDS).shape == (1, 7, 32)
    with pytest.raises(tinv.UnsupportedError):
        tinv._arrays.int_list_result([1], as_numpy=True)  # tokenizer's as_numpy=True


@needs_numpy
def test_unet_golden_t500(model, sd1_dir, report):
    path = require_file(os.path.join(sd1_dir, "golden", "unet_t500.safetensors"))
    g = read_safetensors(path)
    t = float(g["input.timestep"])
    out = model.unet(g["input.sample"], t, g["input.context"])
    ref = g["output.sample"]
    err = rel_err(out, ref)
    report.append("python golden unet_t500: max|x-ref|/max|ref| = %.3g (tolerance 1e-5)" % err)
    assert err <= 1e-5, err


@needs_numpy
def test_text_encoder_golden(model, sd1_dir, report):
    path = require_file(os.path.join(sd1_dir, "golden", "text_encoder.safetensors"))
    g = read_safetensors(path)
    hidden, pooled = model.encode_text(g["input.ids"], pooled=True)  # int64 ids, converted
    e_h = rel_err(hidden, g["output.last_hidden_state"])
    e_p = rel_err(pooled, g["output.pooler_output"])
    report.append("python golden text_encoder: hidden %.3g, pooled %.3g (tolerance 1e-5)" % (e_h, e_p))
    assert e_h <= 1e-5 and e_p <= 1e-5


@needs_numpy
def test_vae_golden(model, sd1_dir, report):
    enc = read_safetensors(require_file(os.path.join(sd1_dir, "golden", "vae_encode.safetensors")))
    dec = read_safetensors(require_file(os.path.join(sd1_dir, "golden", "vae_decode.safetensors")))
    mean, logvar = model.vae_encode(enc["input.image"])
    image = model.vae_decode(dec["input.latents"])
    errs = (rel_err(mean, enc["output.mean"]), rel_err(logvar, enc["output.logvar"]),
            rel_err(image, dec["output.image"]))
    report.append("python golden vae: mean %.3g, logvar %.3g, decode %.3g (tolerance 1e-5)" % errs)
    assert max(errs) <= 1e-5, errs
