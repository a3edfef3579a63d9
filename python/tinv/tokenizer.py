"""CLIP BPE tokenizer (``tinv_tokenizer``)."""

import ctypes

from . import _arrays, _lib, errors
from ._handle import Handle, LogLevel, make_log_callback
from ._options import options

__all__ = ["Tokenizer"]


class Tokenizer(Handle):
    """CLIP's byte-level BPE tokenizer, id for id as Hugging Face's ``CLIPTokenizer``.

    ``path`` is a diffusers model folder (its ``tokenizer/`` is used), a tokenizer folder
    (``vocab.json``, ``merges.txt``, ...) or OpenAI's ``bpe_simple_vocab_16e6.txt.gz``.
    ``log`` is an optional callable ``log(level, message)`` receiving messages up to
    ``log_level`` (e.g. the warning when a prompt is truncated).

    Use it as a context manager or call :meth:`close`; it is also freed when garbage collected.
    """

    _kind = "tokenizer"
    _free_fn = "tinv_tokenizer_free"
    _set_log_fn = "tinv_tokenizer_set_log_callback"

    def __init__(self, path, *, log=None, log_level=LogLevel.WARN):
        super().__init__()
        api = _lib.api()
        cb = make_log_callback(log)
        out = ctypes.c_void_p()
        cpath = _lib.encode_path(path)
        if cb is None:
            _lib.check(api.tinv_tokenizer_load(cpath, None, ctypes.byref(out)))
        else:
            with options(log_callback=cb, log_level=log_level) as opts:
                _lib.check(api.tinv_tokenizer_load(cpath, opts, ctypes.byref(out)))
        self._adopt(out, cb)
        self.path = path

    # ---- vocabulary -----------------------------------------------------------------------
    @property
    def vocab_size(self):
        """Number of tokens, added tokens included (= the id the next added token gets)."""
        return int(_lib.api().tinv_tokenizer_vocab_size(self._ptr))

    def __len__(self):
        return self.vocab_size

    @property
    def max_length(self):
        """The padded sequence length (77 for SD)."""
        return int(_lib.api().tinv_tokenizer_max_length(self._ptr))

    @property
    def bos_id(self):
        return int(_lib.api().tinv_tokenizer_bos_id(self._ptr))

    @property
    def eos_id(self):
        return int(_lib.api().tinv_tokenizer_eos_id(self._ptr))

    @property
    def pad_id(self):
        return int(_lib.api().tinv_tokenizer_pad_id(self._ptr))

    def add_token(self, token):
        """Add a whole-string token (e.g. a placeholder ``"<cat-toy>"``); returns its id.
        Raises :class:`InvalidArgumentError` if it is empty or already exists."""
        out = ctypes.c_int32(-1)
        _lib.check(_lib.api().tinv_tokenizer_add_token(self._ptr, _lib.encode_str(token, "token"),
                                                       ctypes.byref(out)))
        return int(out.value)

    def add_tokens(self, tokens):
        """Add several tokens in order; returns their ids."""
        if isinstance(tokens, (str, bytes)):
            raise TypeError("add_tokens() takes a sequence of tokens; use add_token() for one")
        return [self.add_token(t) for t in tokens]

    def token_to_id(self, token):
        """The id of one vocabulary string (e.g. ``"cat</w>"``) or added/special token."""
        out = ctypes.c_int32(-1)
        _lib.check(_lib.api().tinv_tokenizer_token_to_id(self._ptr, _lib.encode_str(token, "token"),
                                                         ctypes.byref(out)))
        return int(out.value)

    def id_to_token(self, token_id):
        """The token string of an id (byte-level symbols, e.g. ``"cat</w>"``)."""
        ptr = self._ptr
        tid = _check_id(token_id)
        api = _lib.api()
        return _lib.read_string(lambda buf, cap, needed: api.tinv_tokenizer_id_to_token(
            ptr, tid, buf, cap, needed), initial=64)

    # ---- encode / decode --------------------------------------------------------------------
    def encode(self, text, pad=True, *, as_numpy=False, mask=False):
        """Encode ``text`` (str, or UTF-8 bytes) to ids starting with BOS and ending with EOS.

        With ``pad`` true the result has exactly :attr:`max_length` ids (longer prompts are
        truncated and a warning is logged); with ``pad`` false the full sequence is returned.
        Returns a list of ints, or a numpy int32 array with ``as_numpy=True``; with
        ``mask=True`` returns ``(ids, attention_mask)`` (1 for tokens, 0 for padding).
        """
        ptr = self._ptr
        api = _lib.api()
        ctext = _lib.encode_str(text, "text")
        count = ctypes.c_size_t(0)
        if pad:
            cap = int(api.tinv_tokenizer_max_length(ptr))
        else:  # size query first
            _lib.check(api.tinv_tokenizer_encode(ptr, ctext, 0, None, 0, ctypes.byref(count), None))
            cap = count.value
        ids = (ctypes.c_int32 * max(cap, 1))()
        m = (ctypes.c_uint8 * max(cap, 1))() if mask else None
        _lib.check(api.tinv_tokenizer_encode(ptr, ctext, 1 if pad else 0, ids, cap, ctypes.byref(count), m))
        n = count.value
        result = _arrays.int_list_result(ids[:n], as_numpy)
        if mask:
            return result, _arrays.int_list_result(m[:n], as_numpy)
        return result

    def encode_batch(self, texts, *, as_numpy=None):
        """Encode several prompts, padded: a list of id lists, or an int32 array [N, max_length]
        (the default when numpy is available) ready for :meth:`Model.encode_text`."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("encode_batch() takes a sequence of prompts; use encode() for one")
        rows = [self.encode(t, pad=True) for t in texts]
        if as_numpy is None:
            as_numpy = _arrays.have_numpy()
        if as_numpy:
            if not _arrays.have_numpy():
                raise errors.UnsupportedError("numpy is not available")
            return _arrays.np.array(rows, dtype=_arrays.np.int32).reshape(len(rows), self.max_length)
        return rows

    def decode(self, ids):
        """Decode ids back to text (special and added tokens copied verbatim)."""
        ptr = self._ptr
        prep = _arrays.prepare(ids, "ids", "int32", ndim=None)
        n = prep.size
        api = _lib.api()
        return _lib.read_string(lambda buf, cap, needed: api.tinv_tokenizer_decode(
            ptr, prep.ptr, n, buf, cap, needed), initial=max(64, 16 * n))

    def __call__(self, text, pad=True, **kw):
        return self.encode(text, pad, **kw)


def _check_id(token_id):
    try:
        tid = int(token_id)
    except (TypeError, ValueError):
        raise TypeError("token id must be an integer, not %s" % type(token_id).__name__) from None
    if tid != token_id or not -2**31 <= tid < 2**31:
        raise errors.InvalidArgumentError("token id %r is not an int32" % (token_id,))
    return tid
