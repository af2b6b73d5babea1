"""``gluon-d2l port``: port a trained Gluon block to PyTorch, Keras or JAX/Flax, check it, save it.

Builds the block from ``--block MODULE:FACTORY`` (``FACTORY()`` returns the block), loads
``--params`` (a ``save_parameters`` file), or takes the model and final parameters of a
``gluon-d2l train`` run directory (``--run DIR``), ports it to ``--to``, compares the port with the block
on random inputs of the ``--input-shape``s (forward, gradients, one SGD step), and writes the
target's native weights to ``--out`` only if the comparison passes (exit 1 with the report
otherwise). Next to the weights, ``OUT.graph.json`` holds the traced graph, so a fresh port can be
rebuilt without MXNet: ``to_torch(graph.from_json(text, weights))``. ``--to onnx`` writes an ``.onnx``
model instead, checked forward only (ONNX has no gradients) on the inputs and on a second draw of them.
An existing ``--out`` (or ``OUT.graph.json``) is replaced only with ``--force``; the files are written
whole or not at all.

Bad input ends with one line, ``gluon-d2l: error: --option: ...``, exit status 2, before anything is
built or written: every option and path is checked first, then ``--params`` is read, the block is
built, its parameters are loaded and it is called once on the inputs; only then is the target
framework imported.

Entry point ``gluon_d2l.commands``: ``port = parity.port.cli:register``.
"""
import dataclasses
import importlib
import importlib.util
import math
import pathlib
import re
import struct
import sys
import warnings

import numpy

from gluon_d2l.program.config import MAX_SEED, ConfigError

PROG = 'gluon-d2l port'
TARGETS = ('torch', 'keras', 'flax', 'onnx')
#: the packages (``parity.frameworks``) each target needs, and how to install them
TARGET_FRAMEWORK = {'torch': ('torch', 'pip install torch'), 'keras': ('tensorflow', 'pip install tensorflow'),
                    'flax': ('jax', 'pip install jax flax'), 'onnx': ('onnx', 'pip install "gluon-d2l[onnx]"')}
GRAPH_SUFFIX = '.graph.json'
KERAS_SUFFIX = '.weights.h5'
#: the dtypes an --input-shape may name (what every target takes), and those --dtype casts a block to
INPUT_DTYPES = ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8')
CAST_DTYPES = ('float16', 'float32', 'float64')
MAX_ELEMENTS = 1 << 26          # one generated input: 512 MiB of float64
MAX_TOTAL_ELEMENTS = 1 << 27    # all of them together
MAX_NDIM = 32                   # NumPy's limit
MAX_INPUTS = 256                # generated arrays, groups counted member by member
MAX_PARAMS_BYTES = 16 << 30     # a --params file is read whole
PARAMS_MAGIC = struct.pack('<Q', 0x112)  # MXNet's NDArray list files (save_parameters, nd.save)
NAME = re.compile(r'[^\W\d]\w*\Z')
DIMS = re.compile(r'[0-9]+\Z')


def register(subparsers):
    """Add ``port`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('port', help='port a Gluon block with its weights to PyTorch, Keras or JAX/Flax',
                              description=' '.join(__doc__.split('\n\n')[1].split()))
    add_arguments(p)
    p.set_defaults(handler=run)


def add_arguments(p):
    p.add_argument('--block', metavar='MODULE:FACTORY',
                   help='the function that builds the block, e.g. mypkg.models:build_net (MODULE is imported '
                        'from the Python path or the current directory; FACTORY() must return a HybridBlock)')
    p.add_argument('--run', metavar='DIR', help='instead of --block/--params: the model of a gluon-d2l train run '
                   'directory with its final parameters (inputs default to 2 x 35 tokens and its initial state)')
    p.add_argument('--params', metavar='FILE', help='parameters saved with block.save_parameters(FILE)')
    p.add_argument('--to', required=True, choices=TARGETS, help='the target framework')
    p.add_argument('--out', required=True, metavar='PATH',
                   help='where to write the native weights (torch: state_dict .pt; keras: .weights.h5; flax: '
                        f'msgpack) and, next to them, the traced graph PATH{GRAPH_SUFFIX}; --to onnx writes only the '
                        '.onnx model. An existing file is refused unless --force')
    p.add_argument('--force', action='store_true',
                   help=f'replace an existing --out (and PATH{GRAPH_SUFFIX}); each file is replaced whole, '
                        'and only when the port matches')
    p.add_argument('--input-shape', action='append', metavar='SHAPE[:DTYPE[:HIGH]]',
                   help='one per argument of the block (required with --block), e.g. 2,35:int32:28 (tokens '
                        'below 28) or 1,2,512; a group in brackets is a list argument: [1,2,512;1,2,512]. '
                        f'DTYPE: {", ".join(INPUT_DTYPES)} (float32); HIGH (integers only, default 10): the '
                        f'values are drawn from 0 to HIGH-1; at most {MAX_ELEMENTS} elements an input')
    p.add_argument('--dtype', help=f'cast the block to this dtype before porting: {", ".join(CAST_DTYPES)} '
                                   '(default: as loaded)')
    p.add_argument('--training', action='store_true', help='compare in training mode (batch statistics; '
                                                           'not with --to onnx)')
    p.add_argument('--rtol', type=float, help='override the dtype\'s relative tolerance (a finite number >= 0)')
    p.add_argument('--atol', type=float, help='override the dtype\'s absolute tolerance (a finite number >= 0)')
    p.add_argument('--seed', type=int, default=0, help=f'seed of the generated inputs, 0 to {MAX_SEED} (0)')


def shown(path):
    """``path`` as text any terminal can print (a name that is not UTF-8 keeps its bytes as escapes)."""
    return str(path).encode('utf-8', 'backslashreplace').decode('utf-8')


# --- --input-shape ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Spec:
    """One generated input: its shape, dtype and (integers) the exclusive upper bound of its values."""
    shape: tuple
    dtype: numpy.dtype
    high: int = 10

    @property
    def size(self):
        return math.prod(self.shape)

    def draw(self, rng):
        if self.dtype.kind in 'iu':
            return rng.integers(0, self.high, size=self.shape).astype(self.dtype)
        return rng.normal(size=self.shape).astype(self.dtype)


def abbreviated(text, limit=60):
    """``repr(text)``, its middle cut out when it is long (a shape of thousands of dimensions)."""
    return repr(text if len(text) <= limit else f'{text[:limit // 2]}...{text[-limit // 2:]}')


def parse_spec(spec, option='input_shape'):
    """``'2,35:int32:28'`` -> a :class:`Spec`; ``'[a;b]'`` -> a list of them. ``ConfigError(option)``
    naming the spec when it is not one."""
    def bad(why):
        return ConfigError(option, f'{abbreviated(spec)}: {why}')
    text = spec.strip()
    if text.startswith('[') or text.endswith(']'):
        if not (text.startswith('[') and text.endswith(']')):
            raise bad('a group starts with [ and ends with ]')
        members = text[1:-1].split(';')
        if not text[1:-1].strip():
            raise bad('an empty group; a group lists the shapes of a list argument, e.g. [1,2,16;1,2,16]')
        if any('[' in m or ']' in m for m in members):
            raise bad('groups do not nest')
        if any(not m.strip() for m in members):
            raise bad('a group member is empty')
        return [parse_spec(m, option) for m in members]
    if not text:
        raise bad('an empty shape; give comma-separated dimensions, e.g. 2,35:int32:28')
    parts = text.split(':')
    if len(parts) > 3:
        raise bad('expected SHAPE[:DTYPE[:HIGH]]')
    dims = [d.strip() for d in parts[0].split(',')]
    if not all(DIMS.match(d) for d in dims):
        raise bad('the shape must be comma-separated integers')
    shape = tuple(int(d) for d in dims)
    if min(shape) < 1:
        raise bad('every dimension must be positive')
    if len(shape) > MAX_NDIM:
        raise bad(f'{len(shape)} dimensions; at most {MAX_NDIM}')
    name = parts[1].strip() if len(parts) > 1 else 'float32'
    if name not in INPUT_DTYPES:
        raise bad(f'dtype {name!r} is not supported; use one of {", ".join(INPUT_DTYPES)}')
    dtype = numpy.dtype(name)
    high = 10
    if len(parts) > 2:
        if dtype.kind == 'f':
            raise bad(f'HIGH bounds integer inputs; {name} inputs are drawn from a normal distribution')
        limit = int(numpy.iinfo(dtype).max) + 1
        if not DIMS.match(parts[2].strip()) or not 1 <= int(parts[2]) <= limit:
            raise bad(f'HIGH must be an integer from 1 to {limit} for {name}, got {parts[2]!r}')
        high = int(parts[2])
    result = Spec(shape, dtype, high)
    if result.size > MAX_ELEMENTS:
        raise bad(f'{result.size} elements ({result.size * dtype.itemsize / 2 ** 30:.3g} GiB); '
                  f'an input has at most {MAX_ELEMENTS}')
    return result


def _leaves(specs):
    return [leaf for s in specs for leaf in (s if isinstance(s, list) else [s])]


def parse_specs(texts, option='input_shape'):
    """Every ``--input-shape``, checked together: the number of inputs and their total size are bounded."""
    specs = [parse_spec(t, option) for t in texts]
    leaves = _leaves(specs)
    if len(leaves) > MAX_INPUTS:
        raise ConfigError(option, f'{len(leaves)} inputs; at most {MAX_INPUTS}')
    total = sum(s.size for s in leaves)
    if total > MAX_TOTAL_ELEMENTS:
        raise ConfigError(option, f'{total} elements in all; at most {MAX_TOTAL_ELEMENTS}')
    return specs


def draw(specs, rng):
    """Random arrays of the ``specs`` (a group is a list)."""
    try:
        return [[m.draw(rng) for m in s] if isinstance(s, list) else s.draw(rng) for s in specs]
    except MemoryError:
        raise ConfigError('input_shape', 'not enough memory for the inputs') from None


def parse_input(spec, rng, option='input_shape'):
    """``'2,35:int32:28'`` -> a random array; ``'[a;b]'`` -> a list of them."""
    return draw([parse_spec(spec, option)], rng)[0]


# --- the other options, checked before any work ------------------------------------------------

def check_options(args):
    """Every option that needs no file: ``ConfigError`` naming the first bad one."""
    if args.to == 'onnx' and args.training:
        raise ConfigError('training', 'the ONNX export runs in inference mode')
    if args.dtype is not None and args.dtype not in CAST_DTYPES:
        raise ConfigError('dtype', f'expected {", ".join(CAST_DTYPES)} (the block\'s parameters are cast to it), '
                                   f'got {args.dtype!r}')
    for name in ('rtol', 'atol'):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(name, f'expected a finite number >= 0, got {value}')
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError('seed', f'expected an integer from 0 to {MAX_SEED}, got {args.seed}')
    if (args.block is None) == (args.run is None):
        raise ConfigError('block', 'give either --block MODULE:FACTORY (with --input-shape, and --params) '
                                   'or --run DIR')
    if args.run is not None and args.params is not None:
        raise ConfigError('params', '--run takes the run directory\'s own parameters')
    if args.block is not None:
        parse_module(args.block)
        if not args.input_shape:
            raise ConfigError('input_shape', 'give one per argument of the --block')


def check_outputs(args):
    """The files ``--out`` writes, checked (nothing written): ``[out]`` or ``[out, out.graph.json]``."""
    from gluon_d2l.program.files import check_output
    if args.to == 'keras' and args.out and not str(args.out).endswith(KERAS_SUFFIX):
        raise ConfigError('out', f'{args.out!r}: Keras weights files must end in {KERAS_SUFFIX}')
    outputs = [check_output(args.out, 'out', force=args.force)]
    if args.to != 'onnx':
        outputs.append(check_output(f'{args.out}{GRAPH_SUFFIX}', 'out', force=args.force))
    return outputs


# --- --block, --run ------------------------------------------------------------------------------

def parse_module(spec):
    """``'pkg.mod:build'`` -> ``('pkg.mod', 'build')``; ``ConfigError('block')`` for anything else."""
    module, _, name = spec.partition(':')
    if not _ or not module.strip() or not name.strip():
        raise ConfigError('block', f'{spec!r}: expected MODULE:FACTORY, e.g. mypkg.models:build_net')
    if not all(NAME.match(part) for part in module.split('.')):
        raise ConfigError('block', f'{spec!r}: {module!r} is not a module name (dotted Python names, '
                                   'imported from the Python path or the current directory; not a file path)')
    if not all(NAME.match(part) for part in name.split('.')):
        raise ConfigError('block', f'{spec!r}: {name!r} is not a Python name')
    return module, name


def _first_line(err):
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines and lines[0].startswith('Traceback') else (lines[0] if lines else '')
    name = type(err).__name__
    text = text[len(name) + 2:] if text.startswith(f'{name}: ') else text  # MXNet repeats its error's name
    return f'{name}: {text}' if text else name


def load_factory(spec):
    """The callable ``FACTORY`` of ``MODULE:FACTORY``, its module imported with the current directory
    on the path; ``ConfigError('block')`` if the import fails in any way or there is no such callable."""
    module, name = parse_module(spec)
    sys.path.insert(0, str(pathlib.Path.cwd()))
    try:
        factory = importlib.import_module(module)
    except (Exception, SystemExit) as err:
        raise ConfigError('block', f'{spec!r}: importing {module} failed: {_first_line(err)}') from None
    finally:
        sys.path.pop(0)
    for part in name.split('.'):
        try:
            factory = getattr(factory, part)
        except Exception:
            raise ConfigError('block', f'{spec!r}: {module} has no {name}') from None
    if not callable(factory):
        raise ConfigError('block', f'{spec!r}: {name} is a {type(factory).__name__}, not a function that '
                                   'builds the block')
    return factory


def build_block(spec):
    """``FACTORY()``, which must be a Gluon ``HybridBlock``; ``ConfigError('block')`` otherwise."""
    from mxnet import gluon
    factory = load_factory(spec)
    try:
        block = factory()
    except (Exception, SystemExit) as err:
        raise ConfigError('block', f'{spec!r}: {spec.partition(":")[2]}() failed: {_first_line(err)}') from None
    if not isinstance(block, gluon.HybridBlock):
        what = 'a plain gluon.Block (no graph to trace; derive from HybridBlock)' \
            if isinstance(block, gluon.Block) else f'a {type(block).__name__}'
        raise ConfigError('block', f'{spec!r}: {spec.partition(":")[2]}() returned {what}, not a Gluon HybridBlock')
    return block


def load_run(args):
    """``(block, input shapes)`` for ``--run``: the run's model (a Gluon block) and its inputs' shapes."""
    from gluon_d2l.program.jobs import load_trained
    from mxnet import gluon
    net, vocab, device, _ = load_trained(args.run)
    if not isinstance(net, gluon.HybridBlock):
        raise ConfigError('run', f'{args.run!r}: a scratch model is no Gluon block to port; '
                                 'train with --model hybrid or concise')
    state = net.begin_state(batch_size=2, ctx=device)
    shapes = args.input_shape or [f'2,35:int32:{len(vocab)}',
                                  '[' + ';'.join(','.join(str(d) for d in s.shape) for s in state) + ']']
    return net, shapes


# --- --params ------------------------------------------------------------------------------------

def read_params(path):
    """The named arrays of the ``save_parameters`` file ``path`` (read whole, never run); ``ConfigError
    ('params')`` naming the file if it is none (empty, a pickle, a zip archive, truncated, damaged)."""
    import mxnet as mx
    from gluon_d2l.program.files import read_regular
    from . import graph as G
    data = read_regular(path, 'params', limit=MAX_PARAMS_BYTES, follow=True)
    if not data:
        raise ConfigError('params', f'{path!r} is empty')
    if not data.startswith(PARAMS_MAGIC):
        kind = 'a Python pickle (torch.save?)' if data[:1] == b'\x80' else \
            'a zip archive (a NumPy .npz or a PyTorch file? a run directory takes --run DIR)' \
            if data[:2] == b'PK' else 'something else'
        raise ConfigError('params', f'{path!r} is not a file written by save_parameters: it is {kind}')
    errors = []
    for numpy_shape in (True, False):  # the file says which; MXNet refuses the other
        try:
            with G.mode(numpy_shape):
                loaded = mx.nd.load_frombuffer(data)
            break
        except Exception as err:
            errors.append(err)
    else:
        why = [e for e in errors if 'semantics' not in str(e)] or errors
        raise ConfigError('params', f'{path!r} is truncated or damaged ({_first_line(why[0])})')
    if not loaded:
        raise ConfigError('params', f'{path!r} holds no parameters')
    if not isinstance(loaded, dict):
        raise ConfigError('params', f'{path!r} holds unnamed arrays, not the parameters save_parameters writes')
    return loaded


def _brief(names, limit=4):
    names = sorted(names)
    return ', '.join(names[:limit]) + (f' and {len(names) - limit} more' if len(names) > limit else '')


def load_params(block, loaded, path):
    """Set ``block``'s parameters to the ``loaded`` arrays (what ``Block.load_parameters`` does, every
    mismatch a ``ConfigError('params')`` naming the file: another model's parameters, a missing or extra
    one, a shape or dtype that differs)."""
    from mxnet import util
    prefix = block.prefix
    if any('.' in k for k in loaded):  # save_parameters: structural names, a shared parameter once
        names = block._collect_params_with_prefix()
    else:  # collect_params().save: the full names, without the block's prefix
        names = {k[len(prefix):] if k.startswith(prefix) else k: p for k, p in block.collect_params().items()}
        loaded = {k[4:] if k.startswith(('arg:', 'aux:')) else k: v for k, v in loaded.items()}
    aliases = {}
    for name, param in names.items():
        aliases.setdefault(id(param), []).append(name)
    missing = [n[0] for n in aliases.values() if not any(a in loaded for a in n)]
    extra = [k for k in loaded if k not in names]
    if missing or extra:
        found = ([f'it lacks {_brief(missing)}'] if missing else []) + \
            ([f'it has {_brief(extra)}, which the block has not'] if extra else [])
        raise ConfigError('params', f'{path!r} does not hold this block\'s parameters ({"; ".join(found)}): '
                                    'parameters of another model?')
    for name, array in loaded.items():
        param = names[name]
        array = array.as_np_ndarray() if util.is_np_array() else array
        if param.shape and len(param.shape) != array.ndim:
            raise ConfigError('params', f'{path!r}: {name} has shape {tuple(array.shape)}; the block\'s is '
                                        f'{tuple(param.shape)}')
        try:
            param._load_init(array, None)
        except Exception as err:
            raise ConfigError('params', f'{path!r}: {name}: {_first_line(err)}') from None


# --- the block on the inputs ---------------------------------------------------------------------

def check_call(block, example, args):
    """Call the block once on the example inputs: whatever it raises is one ``ConfigError('input_shape')``."""
    import mxnet as mx
    try:
        block(*example)
        mx.nd.waitall()
    except Exception as err:
        shapes = abbreviated(" ".join(args.input_shape), 120)
        raise ConfigError('input_shape', f'{type(block).__name__} on --input-shape {shapes}: '
                                         f'{_first_line(err)}') from None


def check_target(target):
    """The target's framework is installed (checked after the block, before it is imported)."""
    from parity import frameworks
    package, install = TARGET_FRAMEWORK[target]
    if not frameworks.available(package):
        missing = [p for p in (frameworks.PACKAGES.get(package) or frameworks.EXPORTERS[package])
                   if importlib.util.find_spec(p) is None]
        raise ConfigError('to', f'{target} needs {", ".join(missing)}, which is not installed ({install})')


def save(target, ported, out):
    """Write ``ported``'s weights in ``target``'s native format, and the graph next to them, each file
    through a private temporary renamed over it (a planted symlink is replaced, never followed)."""
    from gluon_d2l.program.files import atomic_open, atomic_path
    out = pathlib.Path(out)
    graph = out.with_name(out.name + GRAPH_SUFFIX)
    with atomic_open(graph, 'w', encoding='utf-8') as g:
        g.write(ported.graph.to_json())
        if target == 'torch':
            import torch
            with atomic_open(out) as f:
                torch.save(ported.state_dict(), f)
        elif target == 'keras':
            with atomic_path(out, suffix=KERAS_SUFFIX) as tmp:
                ported.save_weights(tmp)
        else:
            from flax import serialization
            with atomic_open(out) as f:
                f.write(serialization.to_bytes(ported.variables))


def _as_port_error(args, step, err):
    from . import PortError, UnsupportedOperator
    if isinstance(err, (PortError, UnsupportedOperator)):
        return ConfigError('to', f'{args.to}: {" ".join(str(err).split())}')
    return ConfigError('to', f'{args.to}: {step} failed: {_first_line(err)}')


def run(args):
    from . import graph as G
    check_options(args)
    specs = parse_specs(args.input_shape) if args.input_shape else None
    check_outputs(args)
    loaded = read_params(args.params) if args.params is not None else None
    if args.run is not None:
        block, args.input_shape = load_run(args)
        specs = parse_specs(args.input_shape)
    else:
        block = build_block(args.block)
    rng = numpy.random.default_rng(args.seed)
    flat, fmt = G.flatten(draw(specs, rng))
    numpy_mode = G.mx_mode()
    with G.mode(numpy_mode):
        if loaded is not None:
            load_params(block, loaded, args.params)
        elif args.run is None:
            with warnings.catch_warnings():  # a factory may initialize its block itself
                warnings.simplefilter('ignore')
                block.initialize()
        if args.dtype:
            block.cast(args.dtype)
            flat = [a.astype(args.dtype) if a.dtype.kind == 'f' else a for a in flat]
        example = G.regroup([G.to_mxnet(a, numpy_mode) for a in flat], fmt)
        check_call(block, example, args)
    check_target(args.to)
    if args.to == 'onnx':
        return run_onnx(args, block, example, specs, rng, numpy_mode)
    from .compare import compare
    try:
        target = importlib.import_module(f'{__package__}.{args.to}')
        ported = getattr(target, f'to_{args.to}')(block, *example)
    except Exception as err:
        raise _as_port_error(args, 'the port', err) from None
    try:
        result = compare(block, ported, *G.regroup(flat, fmt), training=args.training, rtol=args.rtol,
                         atol=args.atol)
    except Exception as err:
        raise _as_port_error(args, 'comparing the port with the block', err) from None
    print(result)
    if not result.ok:
        print(f'{PROG}: the port does not match; nothing written', file=sys.stderr)
        return 1
    check_outputs(args)  # still as checked: nothing appeared there while the port ran
    _writing(args)
    save(args.to, ported, args.out)
    print(f'wrote {shown(args.out)} and {shown(args.out)}{GRAPH_SUFFIX}')
    return 0


def _writing(args):
    """From here an ``OSError`` (a full disk) is about ``--out``: the program's one-line report names it."""
    args.run_flag, args.run_path = '--out', shown(args.out)


def run_onnx(args, block, example, specs, rng, numpy_mode):
    """``--to onnx``: parity/port/onnx.py's ``save`` writes ``--out`` only if the model matches the block on
    the example inputs and on a second random draw of the ``--input-shape``s (forward only)."""
    from . import graph as G
    from .onnx import Mismatch, save
    again, fmt = G.flatten(draw(specs, rng))
    if args.dtype:
        again = [a.astype(args.dtype) if a.dtype.kind == 'f' else a for a in again]
    with G.mode(numpy_mode):
        again = G.regroup([G.to_mxnet(a, numpy_mode) for a in again], fmt)
    _writing(args)
    try:
        reports = save(block, args.out, *example, check_inputs=[again], rtol=args.rtol, atol=args.atol)
    except Mismatch as err:
        print(err.report)
        print(f'{PROG}: the port does not match; nothing written', file=sys.stderr)
        return 1
    except OSError:
        raise
    except Exception as err:
        raise _as_port_error(args, 'the export', err) from None
    print(reports[-1])
    print(f'wrote {shown(args.out)}')
    return 0
