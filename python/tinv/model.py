"""Stable Diffusion 1.x/2.x model (``tinv_model``): text encoder, UNet and VAE forward passes."""

import ctypes
import inspect
import numbers
import os
from enum import IntEnum

from . import _arrays, _check, _lib, errors
from ._handle import Handle, LogLevel, make_log_callback
from ._options import options
from .tokenizer import Tokenizer

__all__ = ["Model", "ModelProperty"]


class ModelProperty(IntEnum):
    """Mirror of ``enum tinv_model_property`` (read with :meth:`Model.get_int`)."""

    TEXT_HIDDEN_SIZE = 0
    TEXT_MAX_LENGTH = 1
    TEXT_VOCAB_SIZE = 2
    CONTEXT_DIM = 3
    LATENT_CHANNELS = 4
    VAE_SCALE_FACTOR = 5
    UNET_SIZE_MULTIPLE = 6
    PREDICTION_TYPE = 7


class Model(Handle):
    """A loaded Stable Diffusion model.

    ``path`` is a diffusers folder or a single-file ``.safetensors`` checkpoint (pickle files
    are refused). ``device`` is "cpu", "cuda" or "cuda:N"; ``dtype`` "fp32", "fp16" or "bf16";
    ``config_dir`` a diffusers-style folder giving the architecture of a single-file checkpoint.
    ``log(level, message)`` receives the handle's log messages up to ``log_level``.

    The model comes with its own :class:`tinv.Tokenizer` (:attr:`tokenizer`), used by the
    learned-token, sampling and training methods unless they are given another one:
    ``tokenizer=None`` loads it, on first use, from ``path`` when it is a folder (else from
    ``config_dir``); a path loads it from there now; a :class:`tinv.Tokenizer` is used as is
    (not closed with the model); ``False`` means none. An owned tokenizer is closed with
    the model. Learned tokens live in both: add them through the model (:meth:`add_token`,
    :meth:`load_embedding`) so the pair stays in step.

    Forward passes take and return float32 arrays in NCHW / [batch, seq, width] layout
    (numpy arrays when numpy is available; see :mod:`tinv._arrays` otherwise) and run without
    gradients. Use as a context manager or call :meth:`close`.
    """

    _kind = "model"
    _free_fn = "tinv_model_free"
    _set_log_fn = "tinv_model_set_log_callback"

    def __init__(self, path, device="cpu", dtype="fp32", config_dir=None, *, tokenizer=None, log=None,
                 log_level=LogLevel.WARN):
        super().__init__()
        self._tokenizer = None
        self._owns_tokenizer = False
        self._tokenizer_source = None
        if tokenizer is not None and tokenizer is not False and not isinstance(tokenizer, Tokenizer):
            _check.path(tokenizer, "tokenizer")  # TypeError for anything but a path
        api = _lib.api()
        cb = make_log_callback(log)
        out = ctypes.c_void_p()
        cpath = _lib.encode_path(path)
        with options(device=device, dtype=dtype, config_dir=config_dir, log_callback=cb,
                     log_level=log_level) as opts:
            _lib.check(api.tinv_model_load(cpath, opts, ctypes.byref(out)))
        self._adopt(out, cb)
        self.path = path
        self.device = device
        self.dtype = dtype
        self._log = (log, log_level)
        if isinstance(tokenizer, Tokenizer):
            self._tokenizer = tokenizer
        elif tokenizer is None:
            if os.path.isdir(path):
                self._tokenizer_source = path
            elif config_dir is not None:
                self._tokenizer_source = config_dir
        elif tokenizer is not False:
            try:
                self._tokenizer = Tokenizer(tokenizer, log=log, log_level=log_level)
            except BaseException:
                self.close()
                raise
            self._owns_tokenizer = True

    # ---- the tokenizer ------------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The model's :class:`tinv.Tokenizer` (loaded on first use), or None when it has none."""
        self._ptr
        if self._tokenizer is None and self._tokenizer_source is not None:
            log, level = self._log
            self._tokenizer = Tokenizer(self._tokenizer_source, log=log, log_level=level)
            self._owns_tokenizer = True
            self._tokenizer_source = None
        return self._tokenizer

    def _tokenizer_for(self, tokenizer):
        """The tokenizer a call should use: ``tokenizer`` if given, else the model's own."""
        if tokenizer is None:
            tok = self.tokenizer
            if tok is None:
                raise errors.InvalidArgumentError(
                    "this model has no tokenizer (it was loaded from a single file without config_dir, or "
                    "with tokenizer=False): pass tokenizer=tinv.Tokenizer(...)")
            return tok
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError("tokenizer must be a tinv.Tokenizer or None, not %s" % type(tokenizer).__name__)
        return tokenizer

    def close(self):
        """Free the model now, after whatever borrows it (samplers, trainers, optimizers), and
        its own tokenizer. Calling it again is harmless."""
        super().close()
        if self._owns_tokenizer and self._tokenizer is not None:
            self._tokenizer.close()
        self._tokenizer_source = None

    def set_log_callback(self, fn, level=LogLevel.WARN):
        """As :meth:`Handle.set_log_callback`; the model's own tokenizer gets it too. Samplers
        and trainers created afterwards log through it."""
        super().set_log_callback(fn, level)
        self._log = (fn, level)
        if self._owns_tokenizer and self._tokenizer is not None and not self._tokenizer.closed:
            self._tokenizer.set_log_callback(fn, level)

    # ---- properties -------------------------------------------------------------------------
    def get_int(self, prop):
        """Read an integer property (:class:`ModelProperty` or its value)."""
        v = ctypes.c_int64(0)
        _lib.check(_lib.api().tinv_model_get_int(self._ptr, int(prop), ctypes.byref(v)))
        return int(v.value)

    @property
    def hidden_size(self):
        """Width W of the text encoder's hidden states."""
        return self.get_int(ModelProperty.TEXT_HIDDEN_SIZE)

    text_hidden_size = hidden_size

    @property
    def max_length(self):
        """Positions of the text encoder (77)."""
        return self.get_int(ModelProperty.TEXT_MAX_LENGTH)

    text_max_length = max_length

    @property
    def vocab_size(self):
        """Rows of the text encoder's token-embedding table."""
        return self.get_int(ModelProperty.TEXT_VOCAB_SIZE)

    text_vocab_size = vocab_size

    @property
    def context_dim(self):
        """The UNet's cross-attention width."""
        return self.get_int(ModelProperty.CONTEXT_DIM)

    @property
    def latent_channels(self):
        return self.get_int(ModelProperty.LATENT_CHANNELS)

    @property
    def vae_scale_factor(self):
        """Image pixels per latent pixel (8 for SD)."""
        return self.get_int(ModelProperty.VAE_SCALE_FACTOR)

    @property
    def unet_size_multiple(self):
        """Latent height and width must be multiples of this."""
        return self.get_int(ModelProperty.UNET_SIZE_MULTIPLE)

    @property
    def prediction_type(self):
        """What the UNet predicts: "epsilon" (noise) or "v_prediction"."""
        v = self.get_int(ModelProperty.PREDICTION_TYPE)
        return {0: "epsilon", 1: "v_prediction"}.get(v, v)

    @property
    def scaling_factor(self):
        """The VAE's latent scaling factor (0.18215 for SD 1.x/2.x)."""
        v = ctypes.c_double(0)
        _lib.check(_lib.api().tinv_model_get_vae_scaling_factor(self._ptr, ctypes.byref(v)))
        return float(v.value)

    vae_scaling_factor = scaling_factor

    # ---- forward passes ----------------------------------------------------------------------
    def encode_text(self, ids, *, pooled=False, batch=None):
        """CLIP text encoder.

        ``ids``: [batch, seq_len] token ids (a 1-D sequence is one prompt; flat data without
        numpy needs ``batch=``). Returns the last hidden state [batch, seq_len, W], or
        ``(hidden, pooled)`` with ``pooled=True`` (pooled is [batch, W]).
        """
        ptr = self._ptr
        prep = _arrays.prepare(ids, "ids", "int32")
        shape = prep.shape
        if len(shape) == 1:
            if batch is not None:
                if batch <= 0 or shape[0] % batch:
                    raise errors.InvalidArgumentError("ids: %d ids do not split into %d rows" % (shape[0], batch))
                shape = (batch, shape[0] // batch)
            else:
                shape = (1, shape[0])
        if len(shape) != 2:
            raise errors.InvalidArgumentError("ids: expected [batch, seq_len], got shape %s" % (shape,))
        b, seq = shape
        w = self.hidden_size
        hidden_ptr, hidden = _arrays.empty((b, seq, w))
        pooled_ptr, pooled_out = _arrays.empty((b, w)) if pooled else (None, None)
        _lib.check(_lib.api().tinv_model_encode_text(ptr, prep.ptr, b, seq, hidden_ptr, pooled_ptr))
        return (hidden, pooled_out) if pooled else hidden

    def unet(self, sample, timesteps, context, *, shape=None):
        """UNet noise (or v) prediction.

        ``sample``: [batch, latent_channels, height, width]; ``timesteps``: a number (used for
        every sample) or a sequence of 1 or ``batch`` values (may be fractional); ``context``:
        [batch, context_len, context_dim]. Returns an array shaped like ``sample``.
        ``shape`` gives the sample's shape for flat data (without numpy); a flat ``context``
        is then split using ``context_dim``.
        """
        ptr = self._ptr
        s = _arrays.prepare(sample, "sample", ndim=4, shape=shape)
        b, c, h, w = s.shape
        _check_channels("sample", c, self.latent_channels, s.shape)
        if isinstance(timesteps, numbers.Real):
            timesteps = [float(timesteps)]
        t = _arrays.prepare(timesteps, "timesteps")
        if len(t.shape) != 1 and t.size != 1:
            raise errors.InvalidArgumentError("timesteps: expected a number or a 1-D sequence, got shape %s"
                                              % (t.shape,))
        ctx = _arrays.prepare(context, "context")
        if len(ctx.shape) == 1:  # flat: [batch * len * dim]
            d = self.context_dim
            if b == 0 or d == 0 or ctx.size % (b * d):
                raise errors.InvalidArgumentError("context: %d values do not split into [%d, L, %d]" % (ctx.size, b, d))
            ctx_len = ctx.size // (b * d)
        elif len(ctx.shape) == 3:
            if ctx.shape[0] != b:
                raise errors.InvalidArgumentError("context: batch %d does not match the sample's batch %d"
                                                  % (ctx.shape[0], b))
            ctx_len = ctx.shape[1]
            if ctx.shape[2] != self.context_dim:
                raise errors.InvalidArgumentError("context: width %d does not match the UNet's context_dim %d"
                                                  % (ctx.shape[2], self.context_dim))
        else:
            raise errors.InvalidArgumentError("context: expected [batch, context_len, context_dim], got shape %s"
                                              % (ctx.shape,))
        out_ptr, out = _arrays.empty(s.shape)
        _lib.check(_lib.api().tinv_model_unet(ptr, s.ptr, b, h, w, t.ptr, t.size, ctx.ptr, ctx_len, out_ptr))
        return out

    def vae_encode(self, image, *, shape=None):
        """VAE encoder: ``image`` [batch, 3, height, width] in [-1, 1] -> ``(mean, logvar)``,
        each [batch, latent_channels, height/f, width/f] with f = :attr:`vae_scale_factor`."""
        ptr = self._ptr
        im = _arrays.prepare(image, "image", ndim=4, shape=shape)
        b, c, h, w = im.shape
        if c != 3:
            raise errors.InvalidArgumentError("image: expected 3 channels, got shape %s" % (im.shape,))
        f = self.vae_scale_factor
        if h % f or w % f:
            raise errors.InvalidArgumentError("image: height and width must be multiples of %d, got %dx%d"
                                              % (f, h, w))
        lat = (b, self.latent_channels, h // f, w // f)
        mean_ptr, mean = _arrays.empty(lat)
        logvar_ptr, logvar = _arrays.empty(lat)
        _lib.check(_lib.api().tinv_model_vae_encode(ptr, im.ptr, b, h, w, mean_ptr, logvar_ptr))
        return mean, logvar

    def vae_decode(self, latents, *, shape=None):
        """VAE decoder: unscaled ``latents`` [batch, latent_channels, height, width] (divide
        UNet-space latents by :attr:`scaling_factor` first) -> image [batch, 3, height*f,
        width*f], not clamped."""
        ptr = self._ptr
        lt = _arrays.prepare(latents, "latents", ndim=4, shape=shape)
        b, c, h, w = lt.shape
        _check_channels("latents", c, self.latent_channels, lt.shape)
        f = self.vae_scale_factor
        out_ptr, out = _arrays.empty((b, 3, h * f, w * f))
        _lib.check(_lib.api().tinv_model_vae_decode(ptr, lt.ptr, b, h, w, out_ptr))
        return out


    # ---- learned tokens --------------------------------------------------------------------
    @property
    def tokens(self):
        """Names of the learned tokens, in the order added."""
        ptr = self._ptr
        api = _lib.api()
        out = []
        for i in range(int(api.tinv_model_token_count(ptr))):
            name = api.tinv_model_token_name(ptr, i)
            out.append(name.decode("utf-8", "surrogateescape") if name is not None else None)
        return out

    def add_token(self, token, init_word=None, num_vectors=1, average=False, *, tokenizer=None):
        """Add learned token ``token`` (e.g. "<cat-toy>") with ``num_vectors`` vectors, each a
        copy of the embedding of ``init_word`` (one token, or several averaged with
        ``average=True``); None or "" starts from small seeded random vectors. With N > 1 the
        tokenizer gets ``token``, ``token_1``, ... and ``token`` in a prompt expands to all N.
        Returns the N token ids."""
        _check.text(token, "token")
        _check.text(init_word, "init_word", allow_none=True)
        num_vectors = _check.integer(num_vectors, "num_vectors")
        average = _check.boolean(average, "average")
        tok = self._tokenizer_for(tokenizer)
        cinit = _lib.encode_str(init_word, "init_word") if init_word is not None else None
        _lib.check(_lib.api().tinv_model_add_token(self._ptr, tok._ptr, _lib.encode_str(token, "token"),
                                                   num_vectors, cinit, 1 if average else 0))
        return _token_ids(tok, token, num_vectors)

    def add_token_vectors(self, token, vectors, *, tokenizer=None):
        """Add learned token ``token`` from given vectors: [N, W] (or [W] for one vector)
        float32 values, W = :attr:`hidden_size`. Returns the N token ids."""
        _check.text(token, "token")
        tok = self._tokenizer_for(tokenizer)
        prep = _arrays.prepare(vectors, "vectors")
        if len(prep.shape) == 2:
            n, dim = prep.shape
        elif len(prep.shape) == 1:  # one vector (the library checks its width)
            n, dim = 1, prep.shape[0]
        else:
            raise errors.InvalidArgumentError("vectors: expected [num_vectors, width], got shape %s" % (prep.shape,))
        _check.integer(n, "number of vectors")
        _check.integer(dim, "vector width")
        _lib.check(_lib.api().tinv_model_add_token_vectors(self._ptr, tok._ptr, _lib.encode_str(token, "token"),
                                                           prep.ptr, n, dim))
        return _token_ids(tok, token, n)

    def token_vectors(self, token):
        """A copy of learned token ``token``'s vectors, [N, W] float32."""
        ptr = self._ptr
        _check.text(token, "token")
        ctok = _lib.encode_str(token, "token")
        api = _lib.api()
        n = ctypes.c_int(0)
        _lib.check(api.tinv_model_get_token_vectors(ptr, ctok, None, 0, ctypes.byref(n)))
        w = self.hidden_size
        out_ptr, out = _arrays.empty((n.value, w))
        _lib.check(api.tinv_model_get_token_vectors(ptr, ctok, out_ptr, n.value * w, ctypes.byref(n)))
        return out

    def load_embedding(self, path, token=None, *, tokenizer=None):
        """Load a safetensors embedding file (diffusers ``learned_embeds``, A1111/kohya
        ``emb_params`` or ``string_to_param``) and add its token; returns the token's name:
        ``token`` if given, else the file's key (diffusers layout), else the file name without
        extension. Pickle files (.pt, .bin, ...) are refused."""
        _check.path(path, "path")
        _check.text(token, "token", allow_none=True)
        tok = self._tokenizer_for(tokenizer)
        ptr = self._ptr
        ctoken = _lib.encode_str(token, "token") if token is not None else None
        buf = ctypes.create_string_buffer(4096)
        _lib.check(_lib.api().tinv_model_load_embedding(ptr, tok._ptr, _lib.encode_path(path), ctoken, buf,
                                                        len(buf)))
        names = self.tokens
        return names[-1] if names else buf.value.decode("utf-8", "replace")

    def save_embedding(self, token, path, format="diffusers"):
        """Save learned token ``token``'s vectors to ``path`` (safetensors, written atomically):
        ``format`` "diffusers" (``{token: [N, W]}``) or "a1111" (``emb_params`` + metadata)."""
        from .training import format_value
        _check.text(token, "token")
        _check.path(path, "path")
        fmt = format_value(format)
        _lib.check(_lib.api().tinv_model_save_embedding(self._ptr, _lib.encode_str(token, "token"),
                                                        _lib.encode_path(path), int(fmt)))

    # ---- training ----------------------------------------------------------------------------
    def optimizer(self, token, **settings):
        """A :class:`tinv.Optimizer` over learned token ``token``'s vectors (keyword settings:
        lr, betas, weight_decay, eps, schedule, warmup_steps, total_steps, accumulation)."""
        from .training import Optimizer
        return Optimizer(self, token, **settings)

    def diffusion_loss(self, prompts, latents, timesteps, noise, backward=False, *, tokenizer=None, shape=None):
        """The training loss of a batch: noise ``latents`` [B, C, h, w] (already scaled by
        :attr:`scaling_factor`) with ``noise`` (same shape) at integer ``timesteps`` (one per
        sample, or one number for all), predict with the UNet conditioned on ``prompts`` (B
        strings, or one for all) and return the mean squared error against the noise (or the
        velocity for v-prediction models). ``backward=True`` accumulates gradients into every
        learned token that has an optimizer. ``shape`` gives the latents' shape for flat data
        (without numpy)."""
        backward = _check.boolean(backward, "backward")
        tok = self._tokenizer_for(tokenizer)
        ptr = self._ptr
        lat = _arrays.prepare(latents, "latents", ndim=4, shape=shape)
        b, c, h, w = lat.shape
        _check_channels("latents", c, self.latent_channels, lat.shape)
        nz = _arrays.prepare(noise, "noise", ndim=4, shape=lat.shape if not _is_shaped(noise) else None)
        if nz.shape != lat.shape:
            raise errors.InvalidArgumentError("noise: shape %s differs from the latents' %s" % (nz.shape, lat.shape))
        if isinstance(prompts, (str, bytes)):
            prompts = [prompts] * b
        if not isinstance(prompts, (list, tuple)):
            raise TypeError("prompts must be a str or a list of str, not %s" % type(prompts).__name__)
        if len(prompts) != b:
            raise errors.InvalidArgumentError("%d prompts for a batch of %d latents" % (len(prompts), b))
        cprompts = (ctypes.c_char_p * max(b, 1))(*[_lib.encode_str(_check.text(p, "prompts[%d]" % i),
                                                                   "prompts[%d]" % i)
                                                    for i, p in enumerate(prompts)])
        if isinstance(timesteps, numbers.Integral) and not isinstance(timesteps, bool):
            timesteps = [int(timesteps)] * b
        elif isinstance(timesteps, (bool, float, str, bytes)):
            raise TypeError("timesteps must be an integer or a sequence of integers, not %s"
                            % type(timesteps).__name__)
        ts = _arrays.prepare(timesteps, "timesteps", "int32")
        if ts.size != b:
            raise errors.InvalidArgumentError("%d timesteps for a batch of %d latents" % (ts.size, b))
        loss = ctypes.c_double(0)
        _lib.check(_lib.api().tinv_model_diffusion_loss(ptr, tok._ptr, cprompts, b, lat.ptr, h, w, ts.ptr, nz.ptr,
                                                        1 if backward else 0, ctypes.byref(loss)))
        return float(loss.value)

    def train(self, token, images_dir, steps=3000, lr=5e-4, batch=1, resolution=512, seed=0, templates="object",
              output=None, format="diffusers", state=None, save_every=0, resume=None, validation=None,
              progress=None, *, init_word=None, num_vectors=1, schedule="constant", warmup_steps=0,
              accumulation=1, random_crop=False, flip_probability=0.5, tokenizer=None):
        """Train learned token ``token`` on the pictures in folder ``images_dir``; returns a
        :class:`tinv.TrainResult` (steps, loss, lr). The vectors stay in the model.

        The token is added first (from ``init_word``, ``num_vectors``) when it is not a learned
        token yet. ``output``: embedding file written at the end (and every ``save_every``
        updates) in ``format`` ("diffusers" or "a1111"); ``state``: trainer-state file for
        ``resume`` (a state file to continue from). ``validation``: a dict of sampler settings
        plus "every" and "prefix" (pictures "<prefix>-<step>.png"), or a :class:`tinv.Sampler`
        (then every 100 updates, prefix "validation"), or a (sampler, every, prefix) tuple.
        ``progress(step, total, loss, lr)``: return True to stop (:class:`tinv.CancelledError`);
        an exception it raises is re-raised; Ctrl-C raises :class:`KeyboardInterrupt`.
        """
        from .sampler import Sampler, check_settings
        from .training import Trainer, _check_settings as check_opt, format_value
        # Every argument is checked before anything reaches C.
        _check.text(token, "token")
        _check.text(init_word, "init_word", allow_none=True)
        num_vectors = _check.integer(num_vectors, "num_vectors")
        trainer_settings = Trainer._check_settings(dict(
            images=images_dir, steps=steps, batch=batch, resolution=resolution, seed=seed, templates=templates,
            random_crop=random_crop, flip_probability=flip_probability))
        opt_settings = check_opt(lr, None, None, None, schedule, warmup_steps, None, accumulation)
        _check.path(output, "output", allow_none=True)
        _check.path(state, "state", allow_none=True)
        _check.path(resume, "resume", allow_none=True)
        fmt = format_value(format)
        save_every = _check.integer(save_every, "save_every")
        _check.callable_or_none(progress, "progress")
        val_sampler, val_settings, val_every, val_prefix = None, None, 100, "validation"
        if isinstance(validation, Sampler):
            val_sampler = validation
        elif isinstance(validation, tuple):
            if len(validation) != 3 or not isinstance(validation[0], Sampler):
                raise TypeError("validation tuple must be (sampler, every, prefix)")
            val_sampler, val_every, val_prefix = validation
        elif isinstance(validation, dict):
            val_settings = dict(validation)
            val_every = val_settings.pop("every", val_every)
            val_prefix = val_settings.pop("prefix", val_prefix)
            val_settings = check_settings(val_settings)
        elif validation is not None:
            raise TypeError("validation must be a dict, a tinv.Sampler or None, not %s" % type(validation).__name__)
        val_every = _check.integer(val_every, "validation every")
        _check.path(val_prefix, "validation prefix")
        tok = self._tokenizer_for(tokenizer)
        self._ptr

        if token not in self.tokens:
            self.add_token(token, init_word, num_vectors, tokenizer=tok)
        with Trainer(self, token, tokenizer=tok, **trainer_settings) as trainer:
            sched = opt_settings.pop("schedule", None)
            opt = trainer.optimizer
            for name, value in opt_settings.items():
                setattr(opt, name, value)
            if sched is not None:
                s, w, _ = sched
                opt.set_schedule(s, w, trainer_settings["steps"])
            if output is not None or state is not None:
                trainer.set_output(output, fmt, state, save_every)
            if resume is not None:
                trainer.resume(resume)
            temp_sampler = None
            try:
                if val_settings is not None:
                    temp_sampler = Sampler(self, tok, **val_settings)
                    val_sampler = temp_sampler
                if val_sampler is not None:
                    trainer.set_validation(val_sampler, val_every, val_prefix)
                return trainer.run(progress)
            finally:
                trainer.close()  # before the temporary sampler it borrows
                if temp_sampler is not None:
                    temp_sampler.close()

    # ---- sampling ----------------------------------------------------------------------------
    def sampler(self, tokenizer=None, **settings):
        """A :class:`tinv.Sampler` over this model (and its tokenizer unless one is given)."""
        from .sampler import Sampler
        return Sampler(self, tokenizer, **settings)

    def _sample(self, prompt, negative_prompt="", steps=50, guidance=7.5, scheduler="default", seed=0, width=512,
                height=512, batch=1, tiling=False, progress=None, *, tokenizer=None, output="auto", rgba=False,
                long_prompts=False):
        """Sample pictures for ``prompt``: returns a list of ``batch`` pictures (numpy uint8
        [height, width, 3] arrays when numpy is available, else :class:`tinv.Image`; ``output``
        "numpy", "image" or "pil" chooses). Image i uses seed + i; the same seed gives the same
        pixels. ``progress(step, total)`` is called after each step: return True to cancel
        (:class:`tinv.CancelledError`). The model's tokenizer is used unless ``tokenizer=`` (or a
        :class:`tinv.Tokenizer` as first argument) gives another. ``rgba=True``: 4 channels;
        ``long_prompts=True``: prompts over 75 tokens are encoded in chunks (A1111) instead of
        truncated.
        """
        from . import images as _images
        from .sampler import Sampler, check_settings
        settings = check_settings(dict(prompt=prompt, negative_prompt=negative_prompt, steps=steps,
                                       guidance=guidance, scheduler=scheduler, seed=seed, width=width,
                                       height=height, batch=batch, tiling=tiling, long_prompts=long_prompts))
        _check.callable_or_none(progress, "progress")
        rgba = _check.boolean(rgba, "rgba")
        _images.output_kind(output)
        if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
            raise TypeError("tokenizer must be a tinv.Tokenizer or None, not %s" % type(tokenizer).__name__)
        with Sampler(self, tokenizer, **settings) as s:
            return s.run(progress, output=output, rgba=rgba)

    def sample(self, *args, **kwargs):
        if args and isinstance(args[0], Tokenizer):
            if "tokenizer" in kwargs:
                raise TypeError("sample() got the tokenizer twice")
            kwargs["tokenizer"], args = args[0], args[1:]
        return self._sample(*args, **kwargs)

    sample.__doc__ = _sample.__doc__

def _check_channels(name, got, want, shape):
    # The C API takes no channel count: a mismatch would read past the caller's buffer.
    if got != want:
        raise errors.InvalidArgumentError("%s: expected %d latent channels, got shape %s" % (name, want, shape))


Model.sample.__signature__ = inspect.signature(Model._sample)


def _is_shaped(x):
    """True for inputs that carry their own shape (numpy arrays, nested lists, shaped buffers)."""
    if isinstance(x, (list, tuple)):
        return True
    shape = getattr(x, "shape", None)
    return shape is not None and len(shape) > 1


def _token_ids(tok, token, n):
    """The ids of a learned token's N tokenizer entries: token, token_1, ... token_{N-1}."""
    if isinstance(token, (bytes, bytearray)):
        token = bytes(token).decode("utf-8", "surrogatepass")
    names = [token] + ["%s_%d" % (token, i) for i in range(1, n)]
    return [tok.token_to_id(name) for name in names]
