"""Stable Diffusion 1.x/2.x model (``tinv_model``): text encoder, UNet and VAE forward passes."""

import ctypes
import numbers
from enum import IntEnum

from . import _arrays, _lib, errors
from ._handle import Handle, LogLevel, make_log_callback
from ._options import options

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


class Model(Handle):
    """A loaded Stable Diffusion model.

    ``path`` is a diffusers folder or a single-file ``.safetensors`` checkpoint (pickle files
    are refused). ``device`` is "cpu", "cuda" or "cuda:N"; ``dtype`` "fp32", "fp16" or "bf16";
    ``config_dir`` a diffusers-style folder giving the architecture of a single-file checkpoint.
    ``log(level, message)`` receives the handle's log messages up to ``log_level``.

    Forward passes take and return float32 arrays in NCHW / [batch, seq, width] layout
    (numpy arrays when numpy is available; see :mod:`tinv._arrays` otherwise) and run without
    gradients. Use as a context manager or call :meth:`close`.
    """

    _kind = "model"
    _free_fn = "tinv_model_free"
    _set_log_fn = "tinv_model_set_log_callback"

    def __init__(self, path, device="cpu", dtype="fp32", config_dir=None, *, log=None,
                 log_level=LogLevel.WARN):
        super().__init__()
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


def _check_channels(name, got, want, shape):
    # The C API takes no channel count: a mismatch would read past the caller's buffer.
    if got != want:
        raise errors.InvalidArgumentError("%s: expected %d latent channels, got shape %s" % (name, want, shape))
