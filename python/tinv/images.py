"""8-bit RGB(A) pictures: what the sampler returns, and writing them as PNG or JPEG.

With numpy, pictures are ``numpy.ndarray`` of dtype uint8 and shape [height, width, 3]. Without
it they are :class:`Image` objects (bytes plus width/height/channels). :func:`to_pil` turns
either into a Pillow image when Pillow is installed.
"""

import ctypes

from . import _arrays, _check, _lib, errors

__all__ = ["Image", "to_pil", "write_image"]


class Image:
    """A picture without numpy: ``data`` holds height × width × channels bytes, rows top to
    bottom, channels interleaved (RGB or RGBA).

    ``numpy.asarray(image)`` gives a [height, width, channels] uint8 array, ``to_pil()`` a
    Pillow image, ``tolist()`` nested lists [row][column][channel].
    """

    __slots__ = ("data", "width", "height", "channels")

    def __init__(self, data, width, height, channels=3):
        width = _check.integer(width, "width", 1)
        height = _check.integer(height, "height", 1)
        channels = _check.integer(channels, "channels", 1)
        if channels not in (3, 4):
            raise errors.InvalidArgumentError("channels must be 3 (RGB) or 4 (RGBA), got %d" % channels)
        data = bytes(data)
        if len(data) != width * height * channels:
            raise errors.InvalidArgumentError("%d bytes do not make a %dx%dx%d picture"
                                              % (len(data), width, height, channels))
        self.data, self.width, self.height, self.channels = data, width, height, channels

    @property
    def shape(self):
        """(height, width, channels), as the numpy array would have."""
        return (self.height, self.width, self.channels)

    @property
    def size(self):
        """(width, height), as Pillow's ``Image.size``."""
        return (self.width, self.height)

    @property
    def mode(self):
        return "RGB" if self.channels == 3 else "RGBA"

    def tobytes(self):
        return self.data

    def tolist(self):
        w, c = self.width, self.channels
        row = w * c
        return [[list(self.data[y * row + x * c:y * row + x * c + c]) for x in range(w)]
                for y in range(self.height)]

    def __getitem__(self, yx):
        """``image[y, x]`` -> tuple of channel values."""
        y, x = yx
        if not (0 <= y < self.height and 0 <= x < self.width):
            raise IndexError("pixel (%d, %d) outside %dx%d" % (y, x, self.width, self.height))
        i = (y * self.width + x) * self.channels
        return tuple(self.data[i:i + self.channels])

    def __array__(self, dtype=None, copy=None):
        import numpy
        arr = numpy.frombuffer(self.data, dtype=numpy.uint8).reshape(self.shape)
        return arr.astype(dtype) if dtype is not None else arr.copy()

    def to_pil(self):
        return to_pil(self)

    def __eq__(self, other):
        if not isinstance(other, Image):
            return NotImplemented
        return self.shape == other.shape and self.data == other.data

    def __hash__(self):
        return hash((self.shape, self.data))

    def __repr__(self):
        return "<tinv.Image %dx%d %s>" % (self.width, self.height, self.mode)


def _pil_module():
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise errors.UnsupportedError("Pillow is not installed (pip install Pillow / apt-get install "
                                      "python3-pil)") from None
    return PILImage


def to_pil(image):
    """A Pillow image from a numpy [H, W, 3|4] uint8 array, an :class:`Image`, or a Pillow image
    (returned as is). Raises :class:`tinv.UnsupportedError` when Pillow is missing."""
    pil = _pil_module()
    if isinstance(image, pil.Image):
        return image
    raw, w, h, c = _pixels_of(image, "image")
    return pil.frombytes("RGB" if c == 3 else "RGBA", (w, h), raw)


def _pixels_of(image, name):
    """One picture -> (bytes, width, height, channels)."""
    if isinstance(image, Image):
        return image.data, image.width, image.height, image.channels
    mod = type(image).__module__ or ""
    if mod.startswith("PIL.") and hasattr(image, "tobytes") and hasattr(image, "mode"):
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        w, h = image.size
        return image.tobytes(), w, h, 3 if image.mode == "RGB" else 4
    np = _arrays.np
    if np is not None and isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise errors.InvalidArgumentError("%s: expected shape [height, width, 3|4], got %s"
                                              % (name, image.shape))
        if image.dtype != np.uint8:
            raise errors.InvalidArgumentError("%s: expected uint8 pixels, got dtype %s (convert floats "
                                              "in [0, 1] with (x * 255).round().astype(numpy.uint8))"
                                              % (name, image.dtype))
        h, w, c = image.shape
        return np.ascontiguousarray(image).tobytes(), w, h, c
    raise TypeError("%s must be a numpy uint8 array [H, W, 3|4], a tinv.Image or a PIL image, not %s"
                    % (name, type(image).__name__))


def _collect(images):
    """images (one picture, a [N, H, W, C] array, or a sequence of pictures) -> (bytes, w, h, c, n)."""
    np = _arrays.np
    if np is not None and isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, (list, tuple)):
        images = list(images)
    else:
        images = [images]
    if not images:
        raise errors.InvalidArgumentError("images: nothing to write")
    parts = []
    first = None
    for i, im in enumerate(images):
        raw, w, h, c = _pixels_of(im, "images[%d]" % i)
        if first is None:
            first = (w, h, c)
        elif (w, h, c) != first:
            raise errors.InvalidArgumentError("images[%d] is %dx%dx%d but images[0] is %dx%dx%d"
                                              % ((i, w, h, c) + first))
        parts.append(raw)
    w, h, c = first
    return b"".join(parts), w, h, c, len(parts)


def write_image(path, images, grid_cols=0, jpeg_quality=90, *, sampler=None):
    """Write pictures as PNG or JPEG (chosen by the extension of ``path``: .png, .jpg, .jpeg).

    ``images``: one picture (numpy uint8 [H, W, 3|4], :class:`Image`, PIL image), a [N, H, W, C]
    array or a sequence of same-sized pictures. ``grid_cols`` > 0 tiles them into one file
    with that many columns; 0 writes one file per picture ("out.png" -> "out_0.png", ... when
    there are several). ``sampler`` (a :class:`tinv.Sampler`) stores its settings as A1111-style
    "parameters" text in the file. Files are written atomically.
    """
    _check.path(path, "path")
    grid_cols = _check.integer(grid_cols, "grid_cols", 0)
    jpeg_quality = _check.integer(jpeg_quality, "jpeg_quality")
    if sampler is not None:
        from .sampler import Sampler
        if not isinstance(sampler, Sampler):
            raise TypeError("sampler must be a tinv.Sampler or None, not %s" % type(sampler).__name__)
    raw, w, h, c, n = _collect(images)
    cpath = _lib.encode_path(path)
    params = sampler._ptr if sampler is not None else None
    buf = (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw)
    _lib.check(_lib.api().tinv_image_write(cpath, buf, w, h, c, n, grid_cols, jpeg_quality, params))


def from_buffer(buf, width, height, channels, count, output):
    """Split ``count`` pictures of a filled bytes-like buffer into the requested output kind."""
    one = width * height * channels
    if output == "numpy":
        np = _arrays.np
        arr = np.frombuffer(buf, dtype=np.uint8).reshape(count, height, width, channels)
        return [arr[i] for i in range(count)]
    mv = memoryview(buf)
    images = [Image(mv[i * one:(i + 1) * one], width, height, channels) for i in range(count)]
    if output == "pil":
        return [to_pil(im) for im in images]
    return images


_OUTPUTS = ("auto", "numpy", "image", "pil")


def output_kind(output):
    if not isinstance(output, str) or output not in _OUTPUTS:
        raise TypeError("output must be one of %s, not %r" % (", ".join(_OUTPUTS), output))
    if output == "auto":
        return "numpy" if _arrays.have_numpy() else "image"
    if output == "numpy" and not _arrays.have_numpy():
        raise errors.UnsupportedError("numpy is not available (use output='image')")
    if output == "pil":
        _pil_module()
    return output

