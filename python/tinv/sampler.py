"""Text-to-image sampling with classifier-free guidance (``tinv_sampler``)."""

import ctypes

from . import _arrays, _check, _lib, images as _images
from ._handle import Handle
from ._progress import ProgressRun

__all__ = ["Sampler", "SCHEDULERS"]

#: scheduler names the library accepts ("default": the model's own scheduler config)
SCHEDULERS = ("default", "ddim", "pndm", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "lms",
              "ddpm")

# setting name -> (check(value) -> value, default)
_SETTINGS = {
    "prompt": (lambda v: _check.text(v, "prompt"), ""),
    "negative_prompt": (lambda v: _check.text(v, "negative_prompt", allow_none=True), ""),
    "steps": (lambda v: _check.integer(v, "steps"), 50),
    "guidance": (lambda v: _check.real(v, "guidance"), 7.5),
    "scheduler": (lambda v: _check.text(v, "scheduler"), "default"),
    "seed": (_check.seed, 0),
    "width": (lambda v: _check.integer(v, "width"), 512),
    "height": (lambda v: _check.integer(v, "height"), 512),
    "batch": (lambda v: _check.integer(v, "batch"), 1),
    "tiling": (lambda v: _check.boolean(v, "tiling"), False),
    "long_prompts": (lambda v: _check.boolean(v, "long_prompts"), False),
}


def check_settings(kw):
    """Type-check sampler settings (a dict) without touching C; returns the checked dict."""
    out = {}
    for name, value in kw.items():
        if name not in _SETTINGS:
            raise TypeError("unknown sampler setting %r (%s)" % (name, ", ".join(_SETTINGS)))
        out[name] = _SETTINGS[name][0](value)
    return out


class Sampler(Handle):
    """Text-to-image sampling over a :class:`tinv.Model` and a :class:`tinv.Tokenizer` (by
    default the model's own), as diffusers' StableDiffusionPipeline.

    Settings (``prompt``, ``negative_prompt``, ``steps``, ``guidance``, ``scheduler``, ``seed``,
    ``width``, ``height``, ``batch``, ``tiling``, ``long_prompts``) are keyword arguments,
    attributes, or :meth:`configure` arguments; they persist across runs. Image i of a batch
    uses seed + i. ``long_prompts=True`` encodes prompts longer than the tokenizer's window in
    75-token chunks as AUTOMATIC1111 does, instead of truncating them.
    The sampler borrows the model and tokenizer: closing either closes the sampler first.
    """

    _kind = "sampler"
    _free_fn = "tinv_sampler_free"
    _set_log_fn = "tinv_sampler_set_log_callback"

    def __init__(self, model, tokenizer=None, **settings):
        super().__init__()
        from .model import Model
        if not isinstance(model, Model):
            raise TypeError("model must be a tinv.Model, not %s" % type(model).__name__)
        settings = check_settings(settings)
        tokenizer = model._tokenizer_for(tokenizer)
        out = ctypes.c_void_p()
        _lib.check(_lib.api().tinv_sampler_create(model._ptr, tokenizer._ptr, ctypes.byref(out)))
        self._adopt(out, parents=(model, tokenizer))
        self._state.keep.append(model._state.callback)  # the sampler logs through the model's
        self.model = model
        self.tokenizer = tokenizer
        self._values = {name: default for name, (_, default) in _SETTINGS.items()}
        self.configure(**settings)

    # ---- settings ----------------------------------------------------------------------------
    def configure(self, **settings):
        """Change several settings at once (all are type-checked before any is applied)."""
        settings = check_settings(settings)
        ptr = self._ptr
        api = _lib.api()
        if "width" in settings or "height" in settings:
            w = settings.pop("width", self._values["width"])
            h = settings.pop("height", self._values["height"])
            _lib.check(api.tinv_sampler_set_size(ptr, w, h))
            self._values["width"], self._values["height"] = w, h
        for name, value in settings.items():
            if name == "prompt":
                st = api.tinv_sampler_set_prompt(ptr, _lib.encode_str(value, "prompt"))
            elif name == "negative_prompt":
                value = "" if value is None else value
                st = api.tinv_sampler_set_negative_prompt(ptr, _lib.encode_str(value, "negative_prompt"))
            elif name == "steps":
                st = api.tinv_sampler_set_steps(ptr, value)
            elif name == "guidance":
                st = api.tinv_sampler_set_guidance(ptr, value)
            elif name == "scheduler":
                st = api.tinv_sampler_set_scheduler(ptr, _lib.encode_str(value, "scheduler"))
            elif name == "seed":
                st = api.tinv_sampler_set_seed(ptr, value)
            elif name == "batch":
                st = api.tinv_sampler_set_batch(ptr, value)
            elif name == "tiling":
                st = api.tinv_sampler_set_tiling(ptr, 1 if value else 0)
            else:  # long_prompts
                st = api.tinv_sampler_set_long_prompts(ptr, 1 if value else 0)
            _lib.check(st)
            self._values[name] = value
        return self

    def _setting(name):  # noqa: N805 - property factory used in the class body
        def get(self):
            self._ptr  # a closed sampler says so
            return self._values[name]

        def set_(self, value):
            self.configure(**{name: value})

        return property(get, set_, doc="The %s setting." % name.replace("_", " "))

    prompt = _setting("prompt")
    negative_prompt = _setting("negative_prompt")
    steps = _setting("steps")
    guidance = _setting("guidance")
    scheduler = _setting("scheduler")
    seed = _setting("seed")
    width = _setting("width")
    height = _setting("height")
    batch = _setting("batch")
    tiling = _setting("tiling")
    long_prompts = _setting("long_prompts")
    del _setting

    @property
    def size(self):
        """(width, height) in pixels."""
        w, h, _ = self._get_size()
        return (w, h)

    @size.setter
    def size(self, wh):
        try:
            w, h = wh
        except (TypeError, ValueError):
            raise TypeError("size must be a (width, height) pair") from None
        self.configure(width=w, height=h)

    def _get_size(self):
        w, h, n = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        _lib.check(_lib.api().tinv_sampler_get_size(self._ptr, ctypes.byref(w), ctypes.byref(h), ctypes.byref(n)))
        return int(w.value), int(h.value), int(n.value)

    def settings(self):
        """The current settings as a dict."""
        self._ptr
        return dict(self._values)

    # ---- running ----------------------------------------------------------------------------
    def _run(self, progress, c_call):
        ptr = self._ptr
        api = _lib.api()
        run = ProgressRun(progress, "sample")
        _lib.check(api.tinv_sampler_set_progress_callback(ptr, run.c_callback(), None))
        return run.call(c_call, reset=lambda: api.tinv_sampler_set_progress_callback(
            ptr, _lib.SAMPLE_PROGRESS_FN(), None))

    def run(self, progress=None, *, output="auto", rgba=False):
        """Sample ``batch`` pictures; returns a list of them.

        ``output``: "auto" (numpy uint8 [H, W, 3] arrays when numpy is available, else
        :class:`tinv.Image`), "numpy", "image" or "pil" (Pillow images). ``rgba=True`` gives
        4 channels (alpha 255).
        ``progress(step, total)`` is called after each denoising step; a true return value
        cancels the run (:class:`tinv.CancelledError`), an exception it raises stops the run
        and is re-raised here; Ctrl-C stops it with :class:`KeyboardInterrupt`.
        """
        _check.callable_or_none(progress, "progress")
        kind = _images.output_kind(output)
        channels = 4 if _check.boolean(rgba, "rgba") else 3
        ptr = self._ptr
        fn = _lib.api().tinv_sampler_run_rgba if channels == 4 else _lib.api().tinv_sampler_run
        w, h, n = self._get_size()
        size = w * h * channels * n
        if kind == "numpy":
            np = _arrays.np
            arr = np.empty((n, h, w, channels), dtype=np.uint8)
            cbuf = arr.ctypes.data_as(_lib.c_uint8_p)
            self._run(progress, lambda: fn(ptr, cbuf, size))
            return [arr[i] for i in range(n)]
        buf = bytearray(size)
        cbuf = (ctypes.c_uint8 * size).from_buffer(buf)
        self._run(progress, lambda: fn(ptr, cbuf, size))
        del cbuf
        return _images.from_buffer(buf, w, h, channels, n, kind)

    __call__ = run

    def run_float(self, progress=None, *, decode=True, latents=False):
        """Sample in float32: returns the pictures [batch, height, width, 3] in [0, 1] (diffusers'
        output_type="np"), or with ``latents=True`` a pair (pictures, latents) where latents are
        the final [batch, C, height/f, width/f] before 1/scaling_factor; ``decode=False`` skips
        the VAE (pictures is then None)."""
        _check.callable_or_none(progress, "progress")
        decode = _check.boolean(decode, "decode")
        latents = _check.boolean(latents, "latents")
        ptr = self._ptr
        w, h, n = self._get_size()
        img_ptr, img = _arrays.empty((n, h, w, 3)) if decode else (None, None)
        lat_ptr, lat = (None, None)
        if latents:
            f = self.model.vae_scale_factor
            lat_ptr, lat = _arrays.empty((n, self.model.latent_channels, h // f, w // f))
        self._run(progress, lambda: _lib.api().tinv_sampler_run_float(ptr, img_ptr, lat_ptr))
        return (img, lat) if latents else img

    def write(self, path, images, grid_cols=0, jpeg_quality=90):
        """:func:`tinv.write_image` with this sampler's settings stored in the file."""
        _images.write_image(path, images, grid_cols, jpeg_quality, sampler=self)

    def __repr__(self):
        if self.closed:
            return "<tinv.Sampler closed>"
        return "<tinv.Sampler %r %dx%d steps=%d>" % (self._values["prompt"], self._values["width"],
                                                     self._values["height"], self._values["steps"])
