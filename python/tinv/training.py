"""Textual-inversion training: AdamW over a learned token's vectors (``tinv_optimizer``) and the
whole training loop (``tinv_trainer``)."""

import collections
import ctypes
from enum import IntEnum

from . import _check, _lib, errors
from ._handle import Handle
from ._progress import ProgressRun

__all__ = ["LRSchedule", "EmbeddingFormat", "Optimizer", "Trainer", "TrainResult"]


class LRSchedule(IntEnum):
    """Mirror of ``enum tinv_lr_schedule`` (each after an optional linear warm-up)."""

    CONSTANT = 0
    LINEAR = 1
    COSINE = 2


class EmbeddingFormat(IntEnum):
    """Mirror of ``enum tinv_embedding_format``."""

    DIFFUSERS = 0  # learned_embeds.safetensors: {token: [N, width]}
    A1111 = 1      # AUTOMATIC1111/kohya: emb_params [N, width] + metadata


_SCHEDULES = {"constant": LRSchedule.CONSTANT, "linear": LRSchedule.LINEAR, "cosine": LRSchedule.COSINE}
_FORMATS = {"diffusers": EmbeddingFormat.DIFFUSERS, "a1111": EmbeddingFormat.A1111,
            "automatic1111": EmbeddingFormat.A1111, "kohya": EmbeddingFormat.A1111}


def schedule_value(schedule):
    return _check.choice(schedule, "schedule", _SCHEDULES)


def format_value(fmt):
    return _check.choice(fmt, "embedding format", _FORMATS)


#: What a training run reports at the end: updates done, and the loss and learning rate of the
#: last update this run made (None when it made none).
TrainResult = collections.namedtuple("TrainResult", ["steps", "loss", "lr"])


class Optimizer(Handle):
    """AdamW over the vectors of learned token ``token`` of ``model`` (diffusers' defaults:
    lr 5e-4, betas (0.9, 0.999), weight decay 1e-2, eps 1e-8, constant schedule, accumulation 1).

    Use with :meth:`tinv.Model.diffusion_loss` (``backward=True``) and :meth:`step`. Borrows the
    model: closing the model closes the optimizer first. A trainer's optimizer
    (:attr:`Trainer.optimizer`) belongs to the trainer.
    """

    _kind = "optimizer"
    _free_fn = "tinv_optimizer_free"
    _set_log_fn = None

    def __init__(self, model, token, *, lr=None, betas=None, weight_decay=None, eps=None, schedule=None,
                 warmup_steps=0, total_steps=None, accumulation=None, _borrow=None):
        super().__init__()
        from .model import Model
        self._values = {"lr": 5e-4, "betas": (0.9, 0.999), "weight_decay": 1e-2, "eps": 1e-8,
                        "schedule": (LRSchedule.CONSTANT, 0, 1), "accumulation": 1}
        if _borrow is not None:  # (pointer, owning trainer)
            ptr, owner = _borrow
            self._adopt(ptr, parents=(owner,), borrowed=True)
            self.model = owner.model
            self.token = owner.token
            return
        if not isinstance(model, Model):
            raise TypeError("model must be a tinv.Model, not %s" % type(model).__name__)
        _check.text(token, "token")
        settings = _check_settings(lr, betas, weight_decay, eps, schedule, warmup_steps, total_steps, accumulation)
        out = ctypes.c_void_p()
        _lib.check(_lib.api().tinv_optimizer_create(model._ptr, _lib.encode_str(token, "token"), ctypes.byref(out)))
        self._adopt(out, parents=(model,))
        self.model = model
        self.token = token
        self._apply(settings)

    def set_log_callback(self, fn, level=None):
        raise errors.UnsupportedError("optimizers do not log")

    def _apply(self, settings):
        for name, value in settings.items():
            if name == "schedule":
                self.set_schedule(*value)
            else:
                setattr(self, name, value)

    # ---- settings ---------------------------------------------------------------------------
    @property
    def lr(self):
        """The base learning rate (see :attr:`current_lr` for the scheduled one)."""
        self._ptr
        return self._values["lr"]

    @lr.setter
    def lr(self, value):
        value = _check.real(value, "lr")
        _lib.check(_lib.api().tinv_optimizer_set_lr(self._ptr, value))
        self._values["lr"] = value

    @property
    def betas(self):
        self._ptr
        return self._values["betas"]

    @betas.setter
    def betas(self, value):
        try:
            b1, b2 = value
        except (TypeError, ValueError):
            raise TypeError("betas must be a (beta1, beta2) pair") from None
        b1, b2 = _check.real(b1, "beta1"), _check.real(b2, "beta2")
        _lib.check(_lib.api().tinv_optimizer_set_betas(self._ptr, b1, b2))
        self._values["betas"] = (b1, b2)

    @property
    def weight_decay(self):
        self._ptr
        return self._values["weight_decay"]

    @weight_decay.setter
    def weight_decay(self, value):
        value = _check.real(value, "weight_decay")
        _lib.check(_lib.api().tinv_optimizer_set_weight_decay(self._ptr, value))
        self._values["weight_decay"] = value

    @property
    def eps(self):
        self._ptr
        return self._values["eps"]

    @eps.setter
    def eps(self, value):
        value = _check.real(value, "eps")
        _lib.check(_lib.api().tinv_optimizer_set_eps(self._ptr, value))
        self._values["eps"] = value

    @property
    def accumulation(self):
        """Micro-steps per update (the gradient is their mean)."""
        self._ptr
        return self._values["accumulation"]

    @accumulation.setter
    def accumulation(self, value):
        value = _check.integer(value, "accumulation")
        _lib.check(_lib.api().tinv_optimizer_set_accumulation(self._ptr, value))
        self._values["accumulation"] = value

    @property
    def schedule(self):
        """(LRSchedule, warmup_steps, total_steps). Assign a schedule name ("constant",
        "linear", "cosine") or a tuple; :meth:`set_schedule` sets all three."""
        self._ptr
        return self._values["schedule"]

    @schedule.setter
    def schedule(self, value):
        if isinstance(value, tuple):
            self.set_schedule(*value)
        else:
            _, warmup, total = self._values["schedule"]
            self.set_schedule(value, warmup, total)

    def set_schedule(self, schedule, warmup_steps=0, total_steps=1):
        """Learning-rate schedule after ``warmup_steps`` of linear warm-up; decays (linear,
        cosine) end at ``total_steps``."""
        s = schedule_value(schedule)
        w = _check.integer(warmup_steps, "warmup_steps")
        t = _check.integer(total_steps, "total_steps")
        _lib.check(_lib.api().tinv_optimizer_set_schedule(self._ptr, int(s), w, t))
        self._values["schedule"] = (s, w, t)

    @property
    def current_lr(self):
        """The learning rate the next update will use (after the schedule)."""
        return float(_lib.api().tinv_optimizer_get_lr(self._ptr))

    @property
    def step_count(self):
        """Updates applied so far."""
        return int(_lib.api().tinv_optimizer_get_step(self._ptr))

    def step(self):
        """One micro-step; returns True when an update was applied (every ``accumulation``
        calls). Raises :class:`tinv.NumericError` for a NaN/inf gradient (nothing changes)."""
        applied = ctypes.c_int(0)
        _lib.check(_lib.api().tinv_optimizer_step(self._ptr, ctypes.byref(applied)))
        return bool(applied.value)

    def __repr__(self):
        if self.closed:
            return "<tinv.Optimizer closed>"
        return "<tinv.Optimizer %r lr=%g step=%d>" % (self.token, self._values["lr"], self.step_count)


def _check_settings(lr, betas, weight_decay, eps, schedule, warmup_steps, total_steps, accumulation):
    """Type-check optimizer settings; returns {name: value} of those given (schedule as a tuple)."""
    out = {}
    if lr is not None:
        out["lr"] = _check.real(lr, "lr")
    if betas is not None:
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError("betas must be a (beta1, beta2) pair") from None
        out["betas"] = (_check.real(b1, "beta1"), _check.real(b2, "beta2"))
    if weight_decay is not None:
        out["weight_decay"] = _check.real(weight_decay, "weight_decay")
    if eps is not None:
        out["eps"] = _check.real(eps, "eps")
    if accumulation is not None:
        out["accumulation"] = _check.integer(accumulation, "accumulation")
    warmup_steps = _check.integer(warmup_steps, "warmup_steps")
    if total_steps is not None:
        total_steps = _check.integer(total_steps, "total_steps")
    if schedule is not None or warmup_steps or total_steps is not None:
        out["schedule"] = (schedule_value(schedule if schedule is not None else "constant"), warmup_steps,
                           total_steps if total_steps is not None else 1)
    return out


def _detach_validation(trainer_state):
    """Called when a trainer's validation sampler is closed: the trainer stops using it."""
    _lib.api().tinv_trainer_set_validation(trainer_state.ptr, None, 0, None)


class Trainer(Handle):
    """The textual-inversion training loop for learned token ``token`` (add it first with
    :meth:`tinv.Model.add_token`), over ``model`` and ``tokenizer`` (by default the model's own).

    Settings are keyword arguments or setters: ``images`` (a folder of PNG/JPEG files),
    ``templates`` ("object", "style" or a text file), ``steps``, ``batch``, ``resolution``,
    ``seed``, augmentation (``random_crop``, ``flip_probability``), ``cache_latents``, output
    (:meth:`set_output`), :meth:`resume`, validation (:meth:`set_validation`). The optimizer
    (:attr:`optimizer`) holds lr, schedule and accumulation. Library defaults: 3000 steps,
    batch 1, resolution 512, seed 0.
    """

    _kind = "trainer"
    _free_fn = "tinv_trainer_free"
    _set_log_fn = None

    _INT_SETTINGS = {"steps": "tinv_trainer_set_steps", "batch": "tinv_trainer_set_batch",
                     "resolution": "tinv_trainer_set_resolution"}

    def __init__(self, model, token, tokenizer=None, **settings):
        super().__init__()
        from .model import Model
        if not isinstance(model, Model):
            raise TypeError("model must be a tinv.Model, not %s" % type(model).__name__)
        _check.text(token, "token")
        checked = self._check_settings(settings)
        tokenizer = model._tokenizer_for(tokenizer)
        out = ctypes.c_void_p()
        _lib.check(_lib.api().tinv_trainer_create(model._ptr, tokenizer._ptr, _lib.encode_str(token, "token"),
                                                  ctypes.byref(out)))
        self._adopt(out, parents=(model, tokenizer))
        self._state.keep.append(model._state.callback)  # the trainer logs through the model's
        self.model = model
        self.tokenizer = tokenizer
        self.token = token
        self._optimizer = None
        self._validation = None
        self._values = {"steps": 3000, "batch": 1, "resolution": 512, "seed": 0, "images": None,
                        "templates": "object", "random_crop": False, "flip_probability": 0.5,
                        "cache_latents": True}
        self.configure(**checked)

    def set_log_callback(self, fn, level=None):
        raise errors.UnsupportedError("a trainer logs through its model's log callback")

    # ---- settings ---------------------------------------------------------------------------
    @staticmethod
    def _check_settings(kw):
        out = {}
        for name, value in kw.items():
            if name in Trainer._INT_SETTINGS:
                out[name] = _check.integer(value, name)
            elif name == "seed":
                out[name] = _check.seed(value)
            elif name in ("images", "templates"):
                out[name] = _check.path(value, name)
            elif name in ("random_crop", "cache_latents"):
                out[name] = _check.boolean(value, name)
            elif name == "flip_probability":
                out[name] = _check.real(value, name)
            else:
                raise TypeError("unknown trainer setting %r" % name)
        return out

    def configure(self, **settings):
        """Change several settings (type-checked before any is applied)."""
        settings = self._check_settings(settings)
        ptr = self._ptr
        api = _lib.api()
        if "random_crop" in settings or "flip_probability" in settings:
            crop = settings.pop("random_crop", self._values["random_crop"])
            flip = settings.pop("flip_probability", self._values["flip_probability"])
            _lib.check(api.tinv_trainer_set_augmentation(ptr, 1 if crop else 0, flip))
            self._values["random_crop"], self._values["flip_probability"] = crop, flip
        for name, value in settings.items():
            if name in self._INT_SETTINGS:
                st = getattr(api, self._INT_SETTINGS[name])(ptr, value)
            elif name == "seed":
                st = api.tinv_trainer_set_seed(ptr, value)
            elif name == "images":
                st = api.tinv_trainer_set_images(ptr, _lib.encode_path(value, "images"))
            elif name == "templates":
                st = api.tinv_trainer_set_templates(ptr, _lib.encode_path(value, "templates"))
            else:  # cache_latents
                st = api.tinv_trainer_set_cache_latents(ptr, 1 if value else 0)
            _lib.check(st)
            self._values[name] = value
        return self

    def _setting(name):  # noqa: N805 - property factory used in the class body
        def get(self):
            self._ptr
            return self._values[name]

        def set_(self, value):
            self.configure(**{name: value})

        return property(get, set_, doc="The %s setting." % name.replace("_", " "))

    steps = _setting("steps")
    batch = _setting("batch")
    resolution = _setting("resolution")
    seed = _setting("seed")
    images = _setting("images")
    templates = _setting("templates")
    random_crop = _setting("random_crop")
    flip_probability = _setting("flip_probability")
    cache_latents = _setting("cache_latents")
    del _setting

    @property
    def optimizer(self):
        """The trainer's :class:`Optimizer` (owned by the trainer): lr, schedule, accumulation."""
        ptr = self._ptr
        if self._optimizer is None or self._optimizer.closed:
            optr = _lib.api().tinv_trainer_optimizer(ptr)
            if not optr:
                raise errors.InternalError("the trainer has no optimizer")
            self._optimizer = Optimizer(None, None, _borrow=(optr, self))
        return self._optimizer

    def set_output(self, embedding_path=None, format="diffusers", state_path=None, every=0):
        """Write the embedding (in ``format``: "diffusers" or "a1111") and, when
        ``state_path`` is given, the full trainer state, every ``every`` updates (0: only at the
        end) and at the end. Both files are written atomically."""
        _check.path(embedding_path, "embedding_path", allow_none=True)
        _check.path(state_path, "state_path", allow_none=True)
        fmt = format_value(format)
        every = _check.integer(every, "every")
        emb = _lib.encode_path(embedding_path, "embedding_path") if embedding_path is not None else None
        state = _lib.encode_path(state_path, "state_path") if state_path is not None else None
        _lib.check(_lib.api().tinv_trainer_set_output(self._ptr, emb, int(fmt), state, every))

    def resume(self, state_path):
        """Continue from a trainer-state file of a run with the same token (vectors, AdamW
        moments, step, random state): N steps + resume + M steps equals N + M steps."""
        _check.path(state_path, "state_path")
        _lib.check(_lib.api().tinv_trainer_resume(self._ptr, _lib.encode_path(state_path, "state_path")))

    def set_validation(self, sampler, every=1, prefix="validation"):
        """Every ``every`` updates run ``sampler`` (a :class:`tinv.Sampler` over the same model,
        whose prompt uses the token) and write its pictures to "<prefix>-<step>.png".
        ``sampler`` None turns validation off. Closing the sampler turns it off too."""
        from .sampler import Sampler
        ptr = self._ptr
        if sampler is not None:
            if not isinstance(sampler, Sampler):
                raise TypeError("sampler must be a tinv.Sampler or None, not %s" % type(sampler).__name__)
            every = _check.integer(every, "every")
            _check.path(prefix, "prefix")
            _lib.check(_lib.api().tinv_trainer_set_validation(ptr, sampler._ptr, every,
                                                              _lib.encode_path(prefix, "prefix")))
        else:
            _lib.check(_lib.api().tinv_trainer_set_validation(ptr, None, 0, None))
        old, self._validation = self._validation, sampler  # kept alive while the trainer uses it
        if old is not None and old is not sampler:
            old._state.dependents.pop(self._state, None)
        if sampler is not None:
            self._depend_on(sampler, _detach_validation)

    @property
    def validation(self):
        """The validation :class:`tinv.Sampler`, or None."""
        v = self._validation
        return v if v is not None and not v.closed else None

    @property
    def step_count(self):
        """Updates done so far (resumed ones included)."""
        return int(_lib.api().tinv_trainer_get_step(self._ptr))

    # ---- running ----------------------------------------------------------------------------
    def run(self, progress=None):
        """Train until :attr:`steps` updates are done; returns a :class:`TrainResult`.

        ``progress(step, total, loss, lr)`` is called after every update; a true return value
        stops the run (:class:`tinv.CancelledError`; the vectors keep their last values and
        the output files are written), an exception it raises stops the run and is re-raised
        here, and Ctrl-C stops it with :class:`KeyboardInterrupt`. A NaN/inf loss raises
        :class:`tinv.NumericError`.
        """
        _check.callable_or_none(progress, "progress")
        ptr = self._ptr
        api = _lib.api()
        run = ProgressRun(progress, "train")
        _lib.check(api.tinv_trainer_set_progress_callback(ptr, run.c_callback(), None))
        before = self.step_count
        run.call(lambda: api.tinv_trainer_run(ptr),
                 reset=lambda: api.tinv_trainer_set_progress_callback(ptr, _lib.TRAIN_PROGRESS_FN(), None))
        last = run.last if run.last is not None and self.step_count > before else None
        return TrainResult(self.step_count, last[2] if last else None, last[3] if last else None)

    def __repr__(self):
        if self.closed:
            return "<tinv.Trainer closed>"
        return "<tinv.Trainer %r step %d/%d>" % (self.token, self.step_count, self._values["steps"])
