"""``gluon-d2l port``: port a trained Gluon block to PyTorch, Keras or JAX/Flax, check it, save it.

Builds the block from ``--block MODULE:FACTORY`` (``FACTORY()`` returns the block), loads
``--params`` (a ``save_parameters`` file), or takes the model and final parameters of a
``gluon-d2l train`` run directory (``--run DIR``), ports it to ``--to``, compares the port with the block
on random inputs of the ``--input-shape``s (forward, gradients, one SGD step), and writes the
target's native weights to ``--out`` only if the comparison passes (exit 1 with the report
otherwise). Next to the weights, ``OUT.graph.json`` holds the traced graph, so a fresh port can be
rebuilt without MXNet: ``to_torch(graph.from_json(text, weights))``. ``--to onnx`` writes an ``.onnx``
model instead, checked forward only (ONNX has no gradients) on the inputs and on a second draw of them.

Entry point ``gluon_d2l.commands``: ``port = parity.port.cli:register``.
"""
import importlib
import pathlib
import sys

import numpy

PROG = 'gluon-d2l port'
TARGETS = ('torch', 'keras', 'flax', 'onnx')


def register(subparsers):
    """Add ``port`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('port', help='port a Gluon block with its weights to PyTorch, Keras or JAX/Flax',
                              description=__doc__.split('\n\n')[1].replace('\n', ' '))
    add_arguments(p)
    p.set_defaults(handler=run)


def add_arguments(p):
    p.add_argument('--block', metavar='MODULE:FACTORY',
                   help='the function that builds the block, e.g. mypkg.models:build_net')
    p.add_argument('--run', metavar='DIR', help='instead of --block/--params: the model of a gluon-d2l train run '
                   'directory with its final parameters (inputs default to 2 x 35 tokens and its initial state)')
    p.add_argument('--params', metavar='FILE', help='parameters saved with block.save_parameters(FILE)')
    p.add_argument('--to', required=True, choices=TARGETS, help='the target framework')
    p.add_argument('--out', required=True, metavar='PATH', help='where to write the native weights '
                   '(torch: state_dict .pt; keras: .weights.h5; flax: msgpack; onnx: the .onnx model)')
    p.add_argument('--input-shape', action='append', metavar='SHAPE[:DTYPE[:HIGH]]',
                   help='one per argument of the block (required with --block), e.g. 2,35:int32:28 (tokens '
                        'below 28) or 1,2,512; a group in brackets is a list argument: [1,2,512;1,2,512]')
    p.add_argument('--dtype', help='cast the block to this dtype before porting (default: as loaded)')
    p.add_argument('--training', action='store_true', help='compare in training mode (batch statistics)')
    p.add_argument('--rtol', type=float, help='override the dtype\'s relative tolerance')
    p.add_argument('--atol', type=float, help='override the dtype\'s absolute tolerance')
    p.add_argument('--seed', type=int, default=0, help='seed of the generated inputs')


def fail(message):
    print(f'{PROG}: error: {message}', file=sys.stderr)
    return 2


def parse_input(spec, rng, option='--input-shape'):
    """``'2,35:int32:28'`` -> a random array; ``'[a;b]'`` -> a list of them."""
    spec = spec.strip()
    if spec.startswith('['):
        if not spec.endswith(']'):
            raise ValueError(f'{option} {spec!r}: a group must end with ]')
        return [parse_input(part, rng, option) for part in spec[1:-1].split(';') if part.strip()]
    shape, dtype, high = (spec.split(':') + [None, None])[:3]
    try:
        dims = tuple(int(d) for d in shape.split(',') if d.strip())
    except ValueError:
        raise ValueError(f'{option} {spec!r}: the shape must be comma-separated integers') from None
    if not dims or min(dims) < 1:
        raise ValueError(f'{option} {spec!r}: every dimension must be positive')
    dtype = numpy.dtype(dtype or 'float32')
    if dtype.kind in 'iu':
        return rng.integers(0, int(high or 10), size=dims).astype(dtype)
    return rng.normal(size=dims).astype(dtype)


def load_factory(spec):
    if ':' not in spec:
        raise ValueError(f'--block {spec!r}: expected MODULE:FACTORY')
    module, name = spec.split(':', 1)
    sys.path.insert(0, str(pathlib.Path.cwd()))
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f'--block {spec!r}: {err}') from None
    finally:
        sys.path.pop(0)
    return factory


def load_run(args):
    """``(block, input shapes)`` for ``--run``: the run's model (a Gluon block) and its inputs' shapes."""
    from gluon_d2l.program.config import ConfigError
    from gluon_d2l.program.jobs import load_trained
    from mxnet import gluon
    try:
        net, vocab, device, _ = load_trained(args.run)
    except ConfigError as err:
        raise ValueError(f'--run {args.run!r}: {err}') from None
    if not isinstance(net, gluon.HybridBlock):
        raise ValueError(f'--run {args.run!r}: a scratch model is no Gluon block to port; '
                         'train with --model hybrid or concise')
    state = net.begin_state(batch_size=2, ctx=device)
    shapes = args.input_shape or [f'2,35:int32:{len(vocab)}',
                                  '[' + ';'.join(','.join(str(d) for d in s.shape) for s in state) + ']']
    return net, shapes


def save(target, ported, out):
    """Write ``ported``'s weights in ``target``'s native format, and the graph next to them."""
    out = pathlib.Path(out)
    if target == 'torch':
        import torch
        torch.save(ported.state_dict(), out)
    elif target == 'keras':
        ported.save_weights(str(out))
    else:
        from flax import serialization
        out.write_bytes(serialization.to_bytes(ported.variables))
    out.with_name(out.name + '.graph.json').write_text(ported.graph.to_json())


def run(args):
    from . import graph as G
    from .compare import compare
    if args.to == 'keras' and not str(args.out).endswith('.weights.h5'):
        return fail(f'--out {args.out!r}: Keras weights files must end in .weights.h5')
    if not pathlib.Path(args.out).absolute().parent.is_dir():
        return fail(f'--out {args.out!r}: no such directory')
    if args.params and not pathlib.Path(args.params).is_file():
        return fail(f'--params {args.params!r}: no such file')
    if bool(args.block) == bool(args.run):
        return fail('give either --block (with --input-shape, and --params) or --run DIR')
    if args.run and args.params:
        return fail('--params: --run takes the run directory\'s own parameters')
    if args.block and not args.input_shape:
        return fail('--input-shape: give one per argument of the --block')
    rng = numpy.random.default_rng(args.seed)
    try:
        if args.run:
            block, args.input_shape = load_run(args)
        else:
            block = load_factory(args.block)()
        inputs = [parse_input(s, rng) for s in args.input_shape]
    except ValueError as err:
        return fail(err)
    from . import PortError, UnsupportedOperator
    flat, fmt = G.flatten(inputs)
    numpy_mode = G.mx_mode()
    try:
        with G.mode(numpy_mode):
            if args.params:
                block.load_parameters(args.params)
            elif not args.run:
                block.initialize()
            if args.dtype:
                block.cast(args.dtype)
                flat = [a.astype(args.dtype) if a.dtype.kind == 'f' else a for a in flat]
            example = G.regroup([G.to_mxnet(a, numpy_mode) for a in flat], fmt)
        if args.to == 'onnx':
            return run_onnx(args, block, example, rng, numpy_mode)
        target = importlib.import_module(f'{__package__}.{args.to}')
        ported = getattr(target, f'to_{args.to}')(block, *example)
    except (PortError, UnsupportedOperator) as err:
        return fail(err)
    except Exception as err:  # the user's block refused the inputs or the parameters
        return fail(f'{type(block).__name__} on --input-shape {" ".join(args.input_shape)}: '
                    f'{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}')
    result = compare(block, ported, *G.regroup(flat, fmt), training=args.training, rtol=args.rtol, atol=args.atol)
    print(result)
    if not result.ok:
        print(f'{PROG}: the port does not match; nothing written', file=sys.stderr)
        return 1
    save(args.to, ported, args.out)
    print(f'wrote {args.out} and {args.out}.graph.json')
    return 0


def run_onnx(args, block, example, rng, numpy_mode):
    """``--to onnx``: parity/port/onnx.py's ``save`` writes ``--out`` only if the model matches the block on
    the example inputs and on a second random draw of the ``--input-shape``s (forward only)."""
    from . import graph as G
    from .onnx import Mismatch, save
    if args.training:
        return fail('--training: the ONNX export runs in inference mode')
    again, fmt = G.flatten([parse_input(s, rng) for s in args.input_shape])
    if args.dtype:
        again = [a.astype(args.dtype) if a.dtype.kind == 'f' else a for a in again]
    with G.mode(numpy_mode):
        again = G.regroup([G.to_mxnet(a, numpy_mode) for a in again], fmt)
    try:
        reports = save(block, args.out, *example, check_inputs=[again], rtol=args.rtol, atol=args.atol)
    except Mismatch as err:
        print(err.report)
        print(f'{PROG}: the port does not match; nothing written', file=sys.stderr)
        return 1
    print(reports[-1])
    print(f'wrote {args.out}')
    return 0
