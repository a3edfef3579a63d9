"""Tests of the sampling, learned-token, embedding, training, image and demo-model bindings.

Every test here works without numpy (those comparing against numpy say so); the fixture-based
ones use sd1-tiny ($TINV_FIXTURES, default ../shared/fixtures).
"""

import gc
import json
import os
import random
import signal
import struct
import zlib

import pytest

import tinv
import tinv._arrays

try:
    import numpy as np
except ImportError:
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")

SIDE = 64  # pixels: the smallest size sd1-tiny's VAE and UNet take


# ---- helpers -------------------------------------------------------------------------------
def pixels_of(image):
    """Raw RGB bytes of a sampled picture (numpy array or tinv.Image)."""
    if isinstance(image, tinv.Image):
        return image.data
    return image.tobytes()


def max_diff(a, b):
    """Largest per-channel difference of two same-sized pictures (batched runs may round a few
    pixels differently from single ones: the convolutions run on another batch size)."""
    pa, pb = pixels_of(a), pixels_of(b)
    assert len(pa) == len(pb)
    return max(abs(x - y) for x, y in zip(pa, pb))


def shape_of(image):
    return tuple(image.shape)


def png_chunks(path):
    """(type, data) of every chunk of a PNG file, checking the signature and CRCs."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        out.append((kind, body))
        pos += 12 + n
    return out


def png_size(path):
    ihdr = dict(png_chunks(path))[b"IHDR"]
    return struct.unpack(">II", ihdr[:8])


def noise_picture(seed, side=SIDE):
    rng = random.Random(seed)
    return tinv.Image(bytes(rng.randrange(256) for _ in range(side * side * 3)), side, side)


def flat(vectors):
    """A [N, W] result (numpy array or memoryview) as a flat list of floats."""
    rows = vectors.tolist()
    return [x for row in rows for x in row]


def gauss(shape, seed):
    """Nested lists of normal floats (works with or without numpy)."""
    rng = random.Random(seed)

    def build(dims):
        if len(dims) == 1:
            return [rng.gauss(0, 1) for _ in range(dims[0])]
        return [build(dims[1:]) for _ in range(dims[0])]

    return build(list(shape))


@pytest.fixture
def fresh(sd1_dir):
    """A newly loaded sd1-tiny model with its own tokenizer (tests add tokens to it)."""
    with tinv.Model(sd1_dir) as m:
        yield m


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A folder of three 64x64 noise PNGs written with tinv.write_image."""
    d = tmp_path_factory.mktemp("pictures")
    for i in range(3):
        tinv.write_image(str(d / ("p%d.png" % i)), noise_picture(i))
    return str(d)


@pytest.fixture
def no_numpy(monkeypatch):
    monkeypatch.setattr(tinv._arrays, "np", None)


# ---- the model's tokenizer ------------------------------------------------------------------
def test_model_owns_its_tokenizer(sd1_dir):
    m = tinv.Model(sd1_dir)
    tok = m.tokenizer
    assert isinstance(tok, tinv.Tokenizer) and tok is m.tokenizer
    assert tok.encode("a photo of a cat", pad=False)[1:3] == [320, 1125]
    m.close()
    assert m.closed and tok.closed  # the owned tokenizer goes with the model
    with tinv.Tokenizer(sd1_dir) as mine:
        with tinv.Model(sd1_dir, tokenizer=mine) as m2:
            assert m2.tokenizer is mine
        assert not mine.closed  # a tokenizer passed in is not the model's to close
    with tinv.Model(sd1_dir, tokenizer=False) as m3:
        assert m3.tokenizer is None
        with pytest.raises(tinv.InvalidArgumentError, match="tokenizer"):
            m3.add_token("<x>", "toy")
        with tinv.Tokenizer(sd1_dir) as t:
            assert m3.add_token("<x>", "toy", tokenizer=t) == [49408]
    with pytest.raises(TypeError):
        tinv.Model(sd1_dir, tokenizer=42)


def test_prediction_type(fresh):
    assert fresh.prediction_type == "epsilon"
    assert fresh.get_int(tinv.ModelProperty.PREDICTION_TYPE) == 0


# ---- learned tokens -------------------------------------------------------------------------
def test_add_token_multi_vector(fresh):
    tok = fresh.tokenizer
    base = tok.vocab_size
    assert fresh.tokens == []
    ids = fresh.add_token("<disc>", "toy", num_vectors=3)
    assert ids == [base, base + 1, base + 2]
    assert tok.token_to_id("<disc>_2") == base + 2 and tok.vocab_size == base + 3
    assert fresh.tokens == ["<disc>"]
    v = fresh.token_vectors("<disc>")
    assert tuple(v.shape) == (3, fresh.hidden_size)
    rows = v.tolist()
    assert rows[0] == rows[1] == rows[2]  # each a copy of the init word's vector
    # "<disc>" in a prompt expands to its three tokens
    assert tok.encode("a <disc> toy", pad=False) == [tok.bos_id, 320, base, base + 1, base + 2,
                                                    tok.token_to_id("toy</w>"), tok.eos_id]

    # the same init word gives the same vector
    assert fresh.add_token("<one>", "toy") == [base + 3]
    assert fresh.token_vectors("<one>").tolist()[0] == rows[0]
    # no init word: a small random vector (seeded by the name), copied to each slot
    fresh.add_token("<rand>", num_vectors=2)
    r = fresh.token_vectors("<rand>").tolist()
    assert r[0] == r[1] and r[0] != rows[0] and 0 < max(abs(x) for x in r[0]) < 1.0
    # several-token init words need average=True
    with pytest.raises(tinv.InvalidArgumentError, match="2 tokens"):
        fresh.add_token("<two>", "teddy bear")
    assert fresh.add_token("<two>", "teddy bear", average=True) == [base + 6]
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.add_token("<disc>", "toy")  # already there
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.add_token("<none>", "toy", num_vectors=0)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.token_vectors("<not-learned>")
    assert fresh.tokens == ["<disc>", "<one>", "<rand>", "<two>"]


def test_add_token_vectors(fresh):
    w = fresh.hidden_size
    vecs = [[0.01 * (i + 1) * (j % 7 - 3) for j in range(w)] for i in range(2)]
    ids = fresh.add_token_vectors("<given>", vecs)
    assert len(ids) == 2 and fresh.tokens == ["<given>"]
    got = fresh.token_vectors("<given>").tolist()
    assert got == [[float(struct.unpack("f", struct.pack("f", x))[0]) for x in row] for row in vecs]
    # one flat vector is one vector
    fresh.add_token_vectors("<flat>", vecs[0])
    assert tuple(fresh.token_vectors("<flat>").shape) == (1, w)
    # a width of another base model: the message names it
    with pytest.raises(tinv.InvalidArgumentError, match="768|SD 1"):
        fresh.add_token_vectors("<sd1>", [0.0] * 768)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.add_token_vectors("<3d>", [[[0.0] * w]])


def test_token_vectors_without_numpy(fresh, no_numpy):
    fresh.add_token("<disc>", "toy", num_vectors=2)
    v = fresh.token_vectors("<disc>")
    assert isinstance(v, memoryview) and v.shape == (2, fresh.hidden_size)
    fresh.add_token_vectors("<copy>", v)
    assert fresh.token_vectors("<copy>").tolist() == v.tolist()


# ---- embedding files -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["diffusers", "a1111"])
def test_embedding_round_trip(sd1_dir, tmp_path, fmt):
    path = str(tmp_path / "my-concept.safetensors")
    with tinv.Model(sd1_dir) as a:
        a.add_token("<disc>", num_vectors=3)  # random vectors: a real round trip
        saved = flat(a.token_vectors("<disc>"))
        a.save_embedding("<disc>", path, format=fmt)
    assert os.path.getsize(path) > 3 * 32 * 4 and not os.path.exists(path + ".tmp")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    if fmt == "diffusers":
        assert header["<disc>"]["shape"] == [3, 32]
    else:
        assert header["emb_params"]["shape"] == [3, 32] and "__metadata__" in header

    with tinv.Model(sd1_dir) as b:
        name = b.load_embedding(path)
        # diffusers names the token after the tensor's key, A1111 after the file
        assert name == ("<disc>" if fmt == "diffusers" else "my-concept")
        assert flat(b.token_vectors(name)) == saved
        assert b.load_embedding(path, token="<again>") == "<again>"
        assert flat(b.token_vectors("<again>")) == saved
        assert b.tokens == [name, "<again>"]
        n_ids = len(b.tokenizer.encode("<again>", pad=False))
        assert n_ids == 2 + 3  # BOS, three vectors, EOS
        with pytest.raises(tinv.InvalidArgumentError):
            b.load_embedding(path, token="<again>")  # already present


def test_embedding_errors(fresh, tmp_path):
    fresh.add_token("<disc>", "toy")
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.save_embedding("<disc>", str(tmp_path / "x.safetensors"), format="ckpt")
    with pytest.raises(TypeError):
        fresh.save_embedding("<disc>", 42)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.save_embedding("<nope>", str(tmp_path / "x.safetensors"))
    with pytest.raises(tinv.TinvIOError):
        fresh.save_embedding("<disc>", str(tmp_path / "no-dir" / "x.safetensors"))
    pt = tmp_path / "concept.pt"
    pt.write_bytes(b"\x80\x02not a safe file")
    with pytest.raises(tinv.UnsupportedError):
        fresh.load_embedding(str(pt))
    with pytest.raises(tinv.TinvIOError):
        fresh.load_embedding(str(tmp_path / "missing.safetensors"))
    assert fresh.tokens == ["<disc>"]


# ---- optimizer and loss ---------------------------------------------------------------------
def test_optimizer_and_diffusion_loss(fresh):
    fresh.add_token("<disc>", "toy", num_vectors=2)
    fresh.add_token("<other>", "cat")
    opt = fresh.optimizer("<disc>", lr=1e-2)
    assert isinstance(opt, tinv.Optimizer)
    assert opt.lr == 1e-2 and opt.betas == (0.9, 0.999) and opt.weight_decay == 1e-2 and opt.eps == 1e-8
    assert opt.accumulation == 1 and opt.step_count == 0 and opt.current_lr == pytest.approx(1e-2)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.optimizer("<disc>")  # already has one
    latents = gauss((2, 4, 8, 8), 1)
    noise = gauss((2, 4, 8, 8), 2)
    prompts = ["a photo of <disc>", "a <disc> on a table"]
    before, other = flat(fresh.token_vectors("<disc>")), flat(fresh.token_vectors("<other>"))
    loss = fresh.diffusion_loss(prompts, latents, [100, 700], noise)
    assert isinstance(loss, float) and loss > 0
    assert fresh.diffusion_loss(prompts, latents, [100, 700], noise, backward=True) == pytest.approx(loss, rel=1e-6)
    assert opt.step() is True and opt.step_count == 1
    after = flat(fresh.token_vectors("<disc>"))
    assert after != before and flat(fresh.token_vectors("<other>")) == other  # only the trained token moves

    opt.accumulation = 2
    fresh.diffusion_loss("a photo of <disc>", latents, 500, noise, backward=True)  # one prompt/timestep for all
    assert opt.step() is False
    fresh.diffusion_loss(prompts, latents, [10, 20], noise, backward=True)
    assert opt.step() is True and opt.step_count == 2

    opt.betas = (0.8, 0.99)
    opt.weight_decay = 0
    opt.eps = 1e-6
    assert opt.betas == (0.8, 0.99) and opt.weight_decay == 0 and opt.eps == 1e-6
    opt.set_schedule("linear", 10, 110)
    assert opt.schedule == (tinv.LRSchedule.LINEAR, 10, 110)
    assert opt.current_lr == pytest.approx(1e-2 * 2 / 10)  # warm-up: step 2 of 10
    with pytest.raises(tinv.InvalidArgumentError):
        opt.lr = float("nan")
    with pytest.raises(tinv.InvalidArgumentError):
        opt.betas = (0.9, 1.0)
    with pytest.raises(tinv.InvalidArgumentError):
        opt.schedule = "exponential"
    with pytest.raises(TypeError):
        opt.lr = "fast"
    with pytest.raises(TypeError):
        opt.betas = 0.9
    assert opt.lr == 1e-2  # unchanged by the failures

    # shape and type checks happen before C
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.diffusion_loss(prompts, latents, [1, 2, 3], noise)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.diffusion_loss(prompts[:1], latents, [1, 2], noise)
    with pytest.raises(tinv.InvalidArgumentError):
        fresh.diffusion_loss(prompts, latents, [1, 2], gauss((2, 4, 8, 4), 3))
    with pytest.raises(TypeError):
        fresh.diffusion_loss(prompts, latents, 1.5, noise)
    with pytest.raises(TypeError):
        fresh.diffusion_loss([1, 2], latents, [1, 2], noise)
    with pytest.raises(TypeError):
        fresh.diffusion_loss(prompts, latents, [1, 2], noise, backward="yes")

    opt.close()
    with pytest.raises(tinv.InvalidArgumentError, match="closed"):
        opt.step()
    fresh.optimizer("<disc>").close()  # the token is free for a new optimizer


# ---- training -------------------------------------------------------------------------------
def test_train_with_progress(fresh, pictures, tmp_path):
    seen = []
    out = str(tmp_path / "disc.safetensors")
    fresh.add_token("<disc>", "toy", num_vectors=2)
    before = flat(fresh.token_vectors("<disc>"))
    result = fresh.train("<disc>", pictures, steps=3, lr=5e-3, batch=2, resolution=SIDE, seed=11, output=out,
                         progress=lambda step, total, loss, lr: seen.append((step, total, loss, lr)))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(s[2], float) and s[2] > 0 and s[3] == pytest.approx(5e-3) for s in seen)
    assert isinstance(result, tinv.TrainResult)
    assert result.steps == 3 and result.loss == seen[-1][2] and result.lr == seen[-1][3]
    assert flat(fresh.token_vectors("<disc>")) != before
    assert os.path.exists(out)
    # the trained embedding loads back with the model's vectors
    with tinv.Model(fresh.path) as other:
        assert other.load_embedding(out) == "<disc>"
        assert flat(other.token_vectors("<disc>")) == flat(fresh.token_vectors("<disc>"))
    # train() adds a token it does not know yet
    fresh.train("<new>", pictures, steps=1, resolution=SIDE, init_word="cat", num_vectors=2)
    assert fresh.tokens == ["<disc>", "<new>"] and tuple(fresh.token_vectors("<new>").shape) == (2, 32)


def test_train_cancel_by_returning_true(fresh, pictures, tmp_path):
    seen = []
    out = str(tmp_path / "cancelled.safetensors")

    def stop_at_2(step, total, loss, lr):
        seen.append(step)
        return step >= 2

    with pytest.raises(tinv.Cancelled) as ei:
        fresh.train("<disc>", pictures, steps=50, resolution=SIDE, init_word="toy", output=out, progress=stop_at_2)
    assert isinstance(ei.value, tinv.CancelledError) and ei.value.status == tinv.Status.CANCELLED
    assert seen == [1, 2]
    assert os.path.exists(out)  # a cancelled run still writes its vectors
    assert "<disc>" in fresh.tokens


def test_train_callback_exception_is_reraised(fresh, pictures):
    seen = []

    def boom(step, total, loss, lr):
        seen.append(step)
        raise ValueError("stop here %d" % step)

    with pytest.raises(ValueError, match="stop here 1") as ei:
        fresh.train("<disc>", pictures, steps=20, resolution=SIDE, init_word="toy", progress=boom)
    assert not isinstance(ei.value, tinv.Error)
    assert seen == [1]
    # the model is fine afterwards: train again
    assert fresh.train("<disc>", pictures, steps=1, resolution=SIDE).steps == 1


def test_keyboard_interrupt_cancels_cleanly(fresh, pictures):
    def ctrl_c(step, total, loss, lr):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fresh.train("<disc>", pictures, steps=20, resolution=SIDE, init_word="toy", progress=ctrl_c)
    # a real SIGINT while the run is in C (delivered in the callback): cancelled, then re-raised
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        calls = []

        def send_sigint(step, total):
            calls.append(step)
            os.kill(os.getpid(), signal.SIGINT)

        with pytest.raises(KeyboardInterrupt):
            fresh.sample("a <disc>", steps=10, width=SIDE, height=SIDE, progress=send_sigint)
        assert calls == [1]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert fresh.train("<disc>", pictures, steps=1, resolution=SIDE).steps == 1


def test_trainer_resume_is_bit_identical(sd1_dir, pictures, tmp_path):
    state = str(tmp_path / "state.safetensors")
    emb = str(tmp_path / "emb.safetensors")

    def trainer(m, steps):
        m.add_token("<disc>", "toy", num_vectors=2)
        t = tinv.Trainer(m, "<disc>", images=pictures, steps=steps, resolution=SIDE, batch=2, seed=11)
        t.optimizer.lr = 5e-3
        return t

    with tinv.Model(sd1_dir) as m:
        with trainer(m, 4) as t:
            assert t.run().steps == 4 and t.step_count == 4
        straight = flat(m.token_vectors("<disc>"))
    with tinv.Model(sd1_dir) as m:
        with trainer(m, 2) as t:
            t.set_output(emb, "a1111", state, every=1)
            t.run()
    with tinv.Model(sd1_dir) as m:
        t = trainer(m, 4)
        t.resume(state)
        assert t.step_count == 2
        assert t.run().steps == 4
        assert flat(m.token_vectors("<disc>")) == straight
        assert t.steps == 4 and t.resolution == SIDE and t.seed == 11 and t.images == pictures
        with pytest.raises(tinv.InvalidArgumentError):
            t.resolution = 60
        assert t.resolution == SIDE
        with pytest.raises(TypeError):
            t.configure(colour="blue")
    assert t.closed  # closed with its model
    with pytest.raises(tinv.InvalidArgumentError, match="closed"):
        t.run()


def test_trainer_validation(fresh, pictures, tmp_path):
    prefix = str(tmp_path / "val")
    fresh.train("<disc>", pictures, steps=2, resolution=SIDE, init_word="toy",
                validation={"prompt": "a photo of <disc>", "steps": 2, "width": SIDE, "height": SIDE,
                            "every": 1, "prefix": prefix})
    assert png_size(prefix + "-000001.png") == (SIDE, SIDE)
    assert png_size(prefix + "-000002.png") == (SIDE, SIDE)
    # a sampler of our own; closing it turns validation off instead of leaving a dangling pointer
    s = fresh.sampler(prompt="a <disc>", steps=1, width=SIDE, height=SIDE)
    t = tinv.Trainer(fresh, "<disc>", images=pictures, steps=3, resolution=SIDE)
    t.set_validation(s, every=3, prefix=str(tmp_path / "own"))
    assert t.validation is s
    t.run()
    assert os.path.exists(str(tmp_path / "own-000003.png"))
    s.close()
    assert t.validation is None and not t.closed
    t.steps = 4
    t.run()
    assert not os.path.exists(str(tmp_path / "own-000004.png"))
    t.close()


# ---- sampling -------------------------------------------------------------------------------
def test_sample_same_seed_same_pixels(fresh):
    steps_seen = []
    a = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE,
                     progress=lambda step, total: steps_seen.append((step, total)))
    assert len(a) == 1 and shape_of(a[0]) == (SIDE, SIDE, 3)
    if np is not None:
        assert isinstance(a[0], np.ndarray) and a[0].dtype == np.uint8
    assert steps_seen and steps_seen[-1][0] == steps_seen[-1][1] and steps_seen[0] == (1, steps_seen[0][1])
    b = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE)
    assert pixels_of(a[0]) == pixels_of(b[0])
    c = fresh.sample("a photo of a cat", steps=2, seed=4, width=SIDE, height=SIDE)
    assert pixels_of(c[0]) != pixels_of(a[0])
    # image i of a batch is the batch-of-1 run with seed + i
    batch = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE, batch=2)
    assert len(batch) == 2 and max_diff(batch[0], a[0]) <= 2 and max_diff(batch[1], c[0]) <= 2
    assert max_diff(c[0], a[0]) > 2
    # the tokenizer may come first, as in the C API
    d = fresh.sample(fresh.tokenizer, "a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE)
    assert pixels_of(d[0]) == pixels_of(a[0])


def test_sample_without_numpy(fresh, no_numpy):
    imgs = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE, batch=2)
    assert all(isinstance(im, tinv.Image) for im in imgs)
    im = imgs[0]
    assert (im.width, im.height, im.channels, im.shape, im.mode) == (SIDE, SIDE, 3, (SIDE, SIDE, 3), "RGB")
    assert len(im.data) == SIDE * SIDE * 3 and len(im[0, 0]) == 3
    again = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE)
    assert max_diff(again[0], im) <= 2 and again[0] != imgs[1]
    single = fresh.sample("a photo of a cat", steps=2, seed=3, width=SIDE, height=SIDE)
    assert single[0] == again[0] and hash(single[0]) == hash(again[0])
    with pytest.raises(tinv.UnsupportedError):
        fresh.sample("a cat", steps=1, width=SIDE, height=SIDE, output="numpy")


@needs_numpy
def test_sample_numpy_matches_image(fresh, monkeypatch):
    arr = fresh.sample("a cat", steps=2, seed=9, width=SIDE, height=SIDE)[0]
    img = fresh.sample("a cat", steps=2, seed=9, width=SIDE, height=SIDE, output="image")[0]
    assert isinstance(img, tinv.Image)
    assert np.array_equal(np.asarray(img), arr)


def test_sampler_object(fresh, tmp_path):
    with tinv.Sampler(fresh, prompt="a photo of a cat", steps=2, width=SIDE, height=SIDE, seed=3) as s:
        assert s.tokenizer is fresh.tokenizer
        assert (s.prompt, s.steps, s.size, s.batch, s.guidance, s.scheduler, s.tiling) == \
            ("a photo of a cat", 2, (SIDE, SIDE), 1, 7.5, "default", False)
        first = s.run()
        assert pixels_of(s()[0]) == pixels_of(first[0])  # settings persist across runs
        s.scheduler = "euler"
        s.guidance = 1.0
        s.negative_prompt = "blurry"
        assert pixels_of(s.run()[0]) != pixels_of(first[0])
        with pytest.raises(tinv.InvalidArgumentError):
            s.scheduler = "heun"
        with pytest.raises(tinv.InvalidArgumentError):
            s.size = (60, 64)
        with pytest.raises(tinv.InvalidArgumentError):
            s.guidance = float("nan")
        assert s.scheduler == "euler" and s.size == (SIDE, SIDE) and s.guidance == 1.0
        with pytest.raises(TypeError):
            s.steps = "2"
        with pytest.raises(TypeError):
            s.configure(strength=0.5)
        pics = s.run_float()
        assert tuple(pics.shape) == (1, SIDE, SIDE, 3)
        pics, lat = s.run_float(latents=True)
        assert tuple(lat.shape) == (1, 4, SIDE // 8, SIDE // 8)
        none, lat2 = s.run_float(decode=False, latents=True)
        assert none is None and lat2.tolist() == lat.tolist()
        # parameters text in the PNG
        path = str(tmp_path / "s.png")
        s.write(path, first)
        text = dict(png_chunks(path)).get(b"tEXt", b"") + dict(png_chunks(path)).get(b"iTXt", b"")
        assert b"parameters" in text and b"a photo of a cat" in text
    assert s.closed
    with pytest.raises(tinv.InvalidArgumentError, match="closed"):
        s.run()
    with pytest.raises(tinv.InvalidArgumentError, match="closed"):
        s.prompt


def test_sample_rgba_and_long_prompts(fresh):
    kw = dict(steps=2, seed=5, width=SIDE, height=SIDE)
    rgb = fresh.sample("a photo of a cat", **kw)[0]
    rgba = fresh.sample("a photo of a cat", rgba=True, **kw)[0]
    assert shape_of(rgba) == (SIDE, SIDE, 4)
    p4 = pixels_of(rgba)
    assert bytes(p4[i] for i in range(len(p4)) if i % 4 != 3) == pixels_of(rgb)
    assert set(p4[3::4]) == {255}
    with pytest.raises(TypeError):
        fresh.sample("a cat", rgba="yes", **kw)
    long_prompt = " ".join(["a photo of a cat"] * 20) + " in the snow"
    cut = fresh.sample(long_prompt, **kw)[0]
    chunked = fresh.sample(long_prompt, long_prompts=True, **kw)[0]
    assert pixels_of(cut) != pixels_of(chunked)
    with tinv.Sampler(fresh, prompt=long_prompt, long_prompts=True, **kw) as s:
        assert s.long_prompts is True
        assert pixels_of(s.run()[0]) == pixels_of(chunked)
        s.long_prompts = False
        assert pixels_of(s.run()[0]) == pixels_of(cut)


def test_sample_cancel_and_exception(fresh):
    with pytest.raises(tinv.CancelledError):
        fresh.sample("a cat", steps=5, width=SIDE, height=SIDE, progress=lambda step, total: step == 2)
    calls = []

    def bad(step, total):
        calls.append(step)
        raise ValueError("no more")

    with pytest.raises(ValueError, match="no more") as ei:
        fresh.sample("a cat", steps=5, width=SIDE, height=SIDE, progress=bad)
    assert not isinstance(ei.value, tinv.Error) and calls == [1]
    # the next run is unaffected
    assert len(fresh.sample("a cat", steps=1, width=SIDE, height=SIDE)) == 1


def test_sample_type_errors(fresh):
    kw = dict(steps=1, width=SIDE, height=SIDE)
    for bad in (dict(prompt=123), dict(prompt="a", steps="2"), dict(prompt="a", steps=2.0),
                dict(prompt="a", width=64.0), dict(prompt="a", guidance="high"), dict(prompt="a", seed=1.5),
                dict(prompt="a", tiling="yes"), dict(prompt="a", progress=5), dict(prompt="a", output="png"),
                dict(prompt="a", negative_prompt=3), dict(prompt="a", tokenizer="tok")):
        args = dict(kw)
        args.update(bad)
        with pytest.raises(TypeError):
            fresh.sample(**args)
    with pytest.raises(ValueError):
        fresh.sample("a", seed=-1, **kw)
    with pytest.raises(ValueError):
        fresh.sample("a", steps=0, width=SIDE, height=SIDE)
    with pytest.raises(ValueError):
        fresh.sample("a", steps=1, width=SIDE, height=2**40)
    with pytest.raises(TypeError):
        tinv.Sampler("not a model")


def test_train_type_errors(fresh, pictures):
    for bad in (dict(steps="3"), dict(lr="0.1"), dict(batch=1.0), dict(resolution=None), dict(seed=0.5),
                dict(templates=3), dict(output=3), dict(format=1.5), dict(progress="print"),
                dict(validation="every step"), dict(init_word=5), dict(save_every="1"),
                dict(validation={"prompt": "a", "every": 1, "strength": 2})):
        with pytest.raises(TypeError):
            fresh.train("<disc>", pictures, **bad)
    with pytest.raises(ValueError):
        fresh.train("<disc>", pictures, format="ckpt")
    with pytest.raises(ValueError):
        fresh.train("<disc>", pictures, schedule="exponential")
    with pytest.raises(TypeError):
        fresh.train(42, pictures)
    with pytest.raises(TypeError):
        fresh.add_token(42)
    with pytest.raises(TypeError):
        fresh.add_token("<x>", num_vectors="2")
    with pytest.raises(TypeError):
        fresh.add_token("<x>", average="no")
    with pytest.raises(TypeError):
        tinv.Trainer(fresh, "<disc>", steps="3")
    assert fresh.tokens == []  # nothing reached C
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.Trainer(fresh, "<never-added>")
    with pytest.raises(tinv.TinvIOError):
        fresh.train("<disc>", os.path.join(pictures, "missing"), steps=1, resolution=SIDE, init_word="toy")


# ---- writing pictures ----------------------------------------------------------------------
def test_write_image(tmp_path):
    a, b, c = noise_picture(1, 16), noise_picture(2, 16), noise_picture(3, 16)
    one = str(tmp_path / "one.png")
    tinv.write_image(one, a)
    assert png_size(one) == (16, 16)
    many = str(tmp_path / "many.png")
    tinv.write_image(many, [a, b, c])
    assert all(png_size(str(tmp_path / ("many_%d.png" % i))) == (16, 16) for i in range(3))
    grid = str(tmp_path / "grid.png")
    tinv.write_image(grid, [a, b, c], grid_cols=2)
    assert png_size(grid) == (32, 32)
    jpg = str(tmp_path / "one.jpg")
    tinv.write_image(jpg, a, jpeg_quality=80)
    with open(jpg, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"
    rgba = tinv.Image(bytes(range(256)) * 4, 16, 16, channels=4)
    tinv.write_image(str(tmp_path / "rgba.png"), rgba)
    assert png_size(str(tmp_path / "rgba.png")) == (16, 16)

    with pytest.raises(tinv.TinvIOError):
        tinv.write_image(str(tmp_path / "no-dir" / "x.png"), a)
    assert not os.path.exists(str(tmp_path / "no-dir"))
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.write_image(str(tmp_path / "x.png"), a, jpeg_quality=0)
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.write_image(str(tmp_path / "x.png"), [a, noise_picture(4, 8)])  # sizes differ
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.write_image(str(tmp_path / "x.png"), [])
    with pytest.raises(TypeError):
        tinv.write_image(str(tmp_path / "x.png"), "pixels")
    with pytest.raises(TypeError):
        tinv.write_image(str(tmp_path / "x.png"), a, grid_cols="2")
    with pytest.raises(TypeError):
        tinv.write_image(None, a)
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.Image(b"\0" * 10, 16, 16)


@needs_numpy
def test_write_image_numpy(tmp_path):
    arr = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    tinv.write_image(str(tmp_path / "g.png"), arr, grid_cols=2)
    assert png_size(str(tmp_path / "g.png")) == (16, 8)
    tinv.write_image(str(tmp_path / "t.png"), arr[0].transpose(1, 0, 2))  # not contiguous: copied
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.write_image(str(tmp_path / "f.png"), arr[0].astype(np.float32))
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.write_image(str(tmp_path / "f.png"), arr[0][:, :, :2])


def test_to_pil():
    im = noise_picture(5, 8)
    try:
        import PIL  # noqa: F401
    except ImportError:
        with pytest.raises(tinv.UnsupportedError, match="Pillow"):
            tinv.to_pil(im)
        return
    p = tinv.to_pil(im)
    assert p.size == (8, 8) and p.mode == "RGB" and p.tobytes() == im.data
    assert im.to_pil().tobytes() == im.data


# ---- handle lifetimes ----------------------------------------------------------------------
def test_closing_the_model_closes_what_borrows_it(sd1_dir):
    m = tinv.Model(sd1_dir)
    m.add_token("<disc>", "toy")
    s = m.sampler(prompt="a <disc>", steps=1, width=SIDE, height=SIDE)
    opt = m.optimizer("<disc>")
    m.close()
    assert s.closed and opt.closed and m.closed
    for use in (lambda: s.run(), lambda: opt.step(), lambda: m.sample("a", steps=1),
                lambda: m.add_token("<y>", "toy"), lambda: m.tokens, lambda: m.token_vectors("<disc>"),
                lambda: m.train("<disc>", ".", steps=1), lambda: tinv.Sampler(m)):
        with pytest.raises(tinv.Error) as ei:
            use()
        assert ei.value.status == tinv.Status.INVALID_ARGUMENT and "closed" in ei.value.message
    # closing the tokenizer a sampler borrows closes the sampler too
    with tinv.Model(sd1_dir) as m2:
        tok = tinv.Tokenizer(sd1_dir)
        s2 = tinv.Sampler(m2, tok)
        tok.close()
        assert s2.closed and not m2.closed


def test_garbage_collection_order(sd1_dir):
    m = tinv.Model(sd1_dir)
    s = m.sampler(steps=1, width=SIDE, height=SIDE)
    fin_m, fin_s = m._finalizer, s._finalizer
    del m
    gc.collect()
    assert fin_m.alive  # the sampler keeps its model alive
    assert len(s.run()) == 1
    del s
    gc.collect()
    assert not fin_s.alive and not fin_m.alive


# ---- demo model ----------------------------------------------------------------------------
def test_demo_model_train_and_sample(tmp_path, pictures):
    d = str(tmp_path / "demo")
    assert tinv.write_demo_model(d, seed=0) == d
    assert os.path.exists(os.path.join(d, "model_index.json"))
    with tinv.Model(d) as m:
        assert m.hidden_size == 32 and m.tokenizer.vocab_size > 256
        m.add_token("<toy>", "toy", num_vectors=2)
        before = flat(m.token_vectors("<toy>"))
        seen = []
        result = m.train("<toy>", pictures, steps=3, resolution=SIDE, lr=1e-2,
                         output=str(tmp_path / "toy.safetensors"),
                         progress=lambda step, total, loss, lr: seen.append(step))
        assert result.steps == 3 and seen == [1, 2, 3]
        assert flat(m.token_vectors("<toy>")) != before
        imgs = m.sample("a photo of <toy>", steps=2, width=SIDE, height=SIDE, seed=1)
        assert shape_of(imgs[0]) == (SIDE, SIDE, 3)
        again = m.sample("a photo of <toy>", steps=2, width=SIDE, height=SIDE, seed=1)
        assert pixels_of(again[0]) == pixels_of(imgs[0])
        tinv.write_image(str(tmp_path / "demo.png"), imgs)
        assert png_size(str(tmp_path / "demo.png")) == (SIDE, SIDE)
    with pytest.raises(TypeError):
        tinv.write_demo_model(str(tmp_path / "x"), seed="1")
    with pytest.raises(ValueError):
        tinv.write_demo_model(str(tmp_path / "x"), seed=-1)


def test_toy_world_draw_and_classify():
    img, caption = tinv.toy_draw(3, 32, shape="ring", colour="purple")
    assert (img.width, img.height, img.channels) == (32, 32, 3)
    assert "purple ring" in caption
    assert tinv.toy_classify(img) == ("ring", "purple")
    again, caption2 = tinv.toy_draw(3, 32, shape="ring", colour="purple")
    assert again == img and caption2 == caption
    assert tinv.toy_classify(tinv.Image(bytes([200]) * (32 * 32 * 3), 32, 32)) == (None, None)
    with pytest.raises(tinv.InvalidArgumentError, match="hexagon"):
        tinv.toy_draw(1, 32, shape="hexagon")
    with pytest.raises(tinv.InvalidArgumentError):
        tinv.toy_draw(1, 8)
    with pytest.raises(TypeError):
        tinv.toy_classify(b"not an image")
