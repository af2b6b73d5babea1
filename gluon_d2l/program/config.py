"""``TrainConfig``: every setting of a training run, checked once, with a strict JSON form.

The defaults are the d2l chapter's settings (500 epochs, lr 1, batch 32, 35 steps,
512 hiddens, clip 1, the first 10,000 characters). A field is one line of
``TrainConfig``: ``name: type = setting(default, check)``; ``check(value)`` returns
the value or raises ``ValueError``, which :class:`ConfigError` reports with the
field's name. ``ConfigError.subject`` is that name, so the command line can say
which option was wrong without the config knowing any flag.

``config.json`` is read back by :meth:`TrainConfig.from_json`: unknown keys, wrong
types (a string for a number, a list, a bool for an int), NaN/Infinity and values
outside the limits below are refused; a missing key takes its default (runs written
before a field existed).
"""
import dataclasses
import json
import math
import numbers
import typing

MODEL_KINDS = ('scratch', 'hybrid', 'concise')
ACTIVATIONS = ('tanh', 'relu')
KVSTORES = ('device', 'dist_sync')
MAX_SEED = 2 ** 32 - 1          # what NumPy's legacy seeding accepts
MAX_SIZE = 1 << 16              # batch size, steps: far above anything this model trains
MAX_HIDDENS = 1 << 13           # a (8192, 8192) recurrent weight is 256 MiB
MAX_EPOCHS = 10 ** 7
#: the smallest normal and the largest float32
FLOAT32_TINY, FLOAT32_MAX = 2.0 ** -126, (2 - 2.0 ** -23) * 2.0 ** 127
MAX_DEVICE_INDEX = 1023         # MXNet sizes tables by the index: cpu:100000000 would eat gigabytes
#: options that ``--resume`` may change (the rest define the run; a change is refused)
RESUMABLE = ('epochs', 'log_every', 'checkpoint_every')


class ConfigError(ValueError):
    """Bad input about one setting; ``subject`` names the setting (a field, ``run``, ...)."""

    def __init__(self, subject, message):
        super().__init__(message)
        self.subject = subject


def _integer(low, high):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f'expected an integer, got {value!r}')
        if not low <= value <= high:
            raise ValueError(f'expected an integer from {low} to {high}, got {value}')
        return int(value)
    return check


def _max_tokens(value):
    value = _integer(-1, 10 ** 12)(value)
    if value == 0:
        raise ValueError('expected a positive number of tokens, or -1 for all, got 0')
    return value


def positive_number(value):
    """A finite number > 0, as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'expected a number, got {value!r}')
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f'expected a positive finite number, got {value!r}')
    return float(value)


def float32_number(value):
    """A positive number that float32, the precision MXNet's kernels take it in, holds as a normal number."""
    value = positive_number(value)
    if not FLOAT32_TINY <= value <= FLOAT32_MAX:
        raise ValueError(f'expected a number from {FLOAT32_TINY:.6g} to {FLOAT32_MAX:.6g} (float32, as MXNet\'s '
                         f'kernels take it), got {value!r}')
    return value


def _sha1(value):
    if not (isinstance(value, str) and len(value) == 40 and all(c in '0123456789abcdef' for c in value)):
        raise ValueError(f'expected a SHA-1 as 40 hex digits, got {value!r}')
    return value


def optional(check):
    """``None`` or what ``check`` accepts (a field that can be switched off)."""
    return lambda value: None if value is None else check(value)


def _one_of(choices):
    def check(value):
        if value not in choices:
            raise ValueError(f'expected one of {", ".join(choices)}, got {value!r}')
        return value
    return check


def _flag(value):
    if not isinstance(value, bool):
        raise ValueError(f'expected true or false, got {value!r}')
    return value


def _text(value):
    if not isinstance(value, str):
        raise ValueError(f'expected a string, got {value!r}')
    return value


def _device(value):
    """The syntax of a device list (``auto``, ``cpu``, ``cpu:N``, ``gpu:N``, comma-separated).

    Whether a GPU exists is checked when the devices are created, not here.
    """
    parts = [p.strip().lower() for p in _text(value).split(',')]
    for part in parts:
        kind, _, index = part.partition(':')
        if part == 'auto' and len(parts) == 1:
            continue
        if kind not in ('cpu', 'gpu') or (index and not index.isdigit()) or (':' in part and not index):
            raise ValueError(f"expected auto, cpu, cpu:N or gpu:N (or a comma list), got {value!r}")
        if index and int(index) > MAX_DEVICE_INDEX:
            raise ValueError(f'device index {int(index)} is above {MAX_DEVICE_INDEX}')
    return value


def setting(default, check, option=True):
    """A ``TrainConfig`` field: its default and its check; ``option=False`` for one the run records
    itself (no command-line option sets it)."""
    return dataclasses.field(default=default, metadata={'check': check, 'option': option})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run (defaults: the d2l chapter's)."""

    model: str = setting('hybrid', _one_of(MODEL_KINDS))
    epochs: int = setting(500, _integer(1, MAX_EPOCHS))
    lr: float = setting(1.0, float32_number)
    batch_size: int = setting(32, _integer(1, MAX_SIZE))
    num_steps: int = setting(35, _integer(1, MAX_SIZE))
    hiddens: int = setting(512, _integer(1, MAX_HIDDENS))
    #: a learned embedding of this size in place of the one-hot input (None: one-hot)
    embedding: typing.Optional[int] = setting(None, optional(_integer(1, MAX_HIDDENS)))
    #: None: the model's own (tanh for scratch and hybrid, ReLU for concise, as in d2l)
    activation: typing.Optional[str] = setting(None, optional(_one_of(ACTIVATIONS)))
    random_iter: bool = setting(False, _flag)
    clip: typing.Optional[float] = setting(1.0, optional(float32_number))  # None: no clipping
    #: False: keep the state attached across an epoch's minibatches (sequential partitioning)
    detach: bool = setting(True, _flag)
    device: str = setting('auto', _device)
    seed: int = setting(0, _integer(0, MAX_SEED))
    max_tokens: int = setting(10000, _max_tokens)
    #: a text file to train on (None: The Time Machine); a run records its absolute path
    corpus: typing.Optional[str] = setting(None, optional(_text))
    #: the SHA-1 of ``corpus`` when the run started (recorded by the run; resume refuses another file)
    corpus_sha1: typing.Optional[str] = setting(None, optional(_sha1), option=False)
    kvstore: str = setting('device', _one_of(KVSTORES))
    log_every: int = setting(10, _integer(1, MAX_EPOCHS))
    checkpoint_every: int = setting(1, _integer(1, MAX_EPOCHS))

    def __post_init__(self):
        for field in dataclasses.fields(self):
            try:
                value = field.metadata['check'](getattr(self, field.name))
            except ValueError as err:
                raise ConfigError(field.name, str(err)) from None
            object.__setattr__(self, field.name, value)
        self._check_together()

    def _check_together(self):
        num_devices = len(self.device.split(','))
        if self.model == 'scratch' and num_devices > 1:
            raise ConfigError('model', 'scratch trains on one device; use hybrid or concise with several devices')
        if self.batch_size % num_devices:
            raise ConfigError('batch_size', f'{self.batch_size} does not divide evenly over {num_devices} devices')
        if self.kvstore != 'device' and self.model == 'scratch':
            raise ConfigError('kvstore', f'{self.kvstore} trains a hybrid or concise model, not scratch')
        if not self.detach and self.random_iter:
            raise ConfigError('detach', 'an attached state needs sequential partitioning; random sampling '
                                        'starts every minibatch from a fresh state')

    @classmethod
    def names(cls):
        """The field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def options(cls):
        """The names of the fields that a command-line option sets, in order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata['option'])

    def replace(self, **changes):
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        """The config as pretty JSON (``from_json`` reads it back to an equal config)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + '\n'

    @classmethod
    def from_dict(cls, data):
        """Build from a dict; unknown keys are a ``ConfigError`` naming the first of them."""
        if not isinstance(data, dict):
            raise ConfigError('config', f'expected a JSON object, got {type(data).__name__}')
        unknown = sorted(set(data) - set(cls.names()))
        if unknown:
            raise ConfigError(unknown[0], f'unknown setting {unknown[0]!r}')
        return cls(**data)

    @classmethod
    def from_json(cls, text):
        """Parse ``config.json`` strictly (see the module docstring)."""
        return cls.from_dict(strict_json(text))


def _no_constant(name):
    raise ValueError(f'{name} is not a JSON number')


def strict_json(text):
    """``json.loads`` that refuses NaN/Infinity and reports every failure as ``ValueError``."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError, int digit limit, deep nesting
        raise ValueError(f'not valid JSON ({err})') from None
