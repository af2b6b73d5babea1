"""``gluon-d2l parity``: run the cases, print the table, exit non-zero on any failure.

A run that compares nothing (no reference framework installed) fails too, naming the
extras that install one. :func:`register` adds the command to ``gluon-d2l`` (entry point
``gluon_d2l.commands``).
"""
import json
import pathlib
import sys

from . import frameworks, golden, harness, report


def add_arguments(parser):
    parser.add_argument('--frameworks', metavar='NAMES',
                        help=f'comma list of references to check (default: {",".join(frameworks.REFERENCES)}, '
                             'skipping those not installed unless $GLUON_D2L_REQUIRE names them); '
                             'a named framework that is not installed fails')
    parser.add_argument('--dtype', choices=harness.DTYPES, help='only this dtype (default: both)')
    parser.add_argument('--cases', metavar='NAMES', help='only cases whose name contains one of these (comma list)')
    parser.add_argument('--json', metavar='FILE', help='also write the results as JSON')
    parser.add_argument('--markdown', metavar='FILE', help='also write the report as Markdown')
    parser.add_argument('--include', metavar='FILE', action='append', default=[],
                        help='add the results of an earlier run (its --json, e.g. from another environment) '
                             'to the Markdown report; repeatable')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--record', action='store_true',
                      help='first write the golden files (inputs, weights, MXNet outputs) of the cases')
    mode.add_argument('--replay', action='store_true',
                      help='compare with the golden files instead of running MXNet, and check today\'s '
                           'MXNet against them too (the default when MXNet is not installed)')


EXTRAS = {'torch': 'gluon-d2l[torch]', 'tensorflow': 'gluon-d2l[tensorflow]', 'jax': 'gluon-d2l[jax]'}


def register(subparsers):
    """Add ``parity`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('parity', help='check MXNet against PyTorch/TensorFlow/JAX references',
                              description='Run every parity case with the same weights and inputs through MXNet '
                                          'and the reference frameworks (PyTorch, TensorFlow, JAX) and report the '
                                          'errors.')
    add_arguments(p)
    p.set_defaults(handler=run)


def _writable(option, path):
    """Refuse an output file whose directory is missing before anything runs (one line, exit 2)."""
    if path is not None and not pathlib.Path(path).absolute().parent.is_dir():
        print(f'gluon-d2l parity: error: --{option}: {path!r}: no such directory', file=sys.stderr)
        return False
    return True


def run(args):
    """Run the parity check described by ``args``; return the exit status (0: all passed)."""
    named = [n.strip() for n in (args.frameworks or ','.join(frameworks.REFERENCES)).split(',') if n.strip()]
    unknown = sorted(set(named) - set(frameworks.PACKAGES))
    if unknown:
        print(f'gluon-d2l parity: error: unknown frameworks {unknown}; known: {", ".join(frameworks.PACKAGES)}',
              file=sys.stderr)
        return 2
    if not (_writable('json', args.json) and _writable('markdown', args.markdown)):
        return 2
    must = set(named if args.frameworks else ()) | set(frameworks.required())
    replay = args.replay or not frameworks.available(frameworks.SYSTEM)
    if replay and not args.replay:
        print('MXNet is not installed: replaying the golden files')
    names = [n for n in frameworks.PACKAGES if n in named or (replay and n == frameworks.SYSTEM)]
    absent = [n for n in names if not frameworks.available(n)]
    skipped = [n for n in absent if n not in must]
    if skipped:
        print(f'skipped (not installed): {", ".join(skipped)}')
    names = [n for n in names if n not in skipped]
    if not [n for n in names if n != frameworks.SYSTEM]:
        wanted = [n for n in named if n in EXTRAS] or list(EXTRAS)
        print('gluon-d2l parity: error: no reference framework is installed, so nothing would be compared; '
              'install one: ' + ', '.join(f'pip install "{EXTRAS[n]}"' for n in wanted), file=sys.stderr)
        return 1
    cases = harness.discover(args.cases)
    if not cases:
        print(f'gluon-d2l parity: error: no case matches {args.cases!r}', file=sys.stderr)
        return 2
    if args.record:
        for case in cases:
            path = golden.record(case)
            print(f'recorded {path} ({path.stat().st_size / 1024:.0f} KiB)')
    dtypes = (args.dtype,) if args.dtype else harness.DTYPES
    results = harness.run(cases, names, dtypes, replay=replay)
    if replay:
        recorded = golden.meta(cases[0])
        mode = 'replaying the golden files (recorded with ' + ', '.join(f'{k} {v}' for k, v in recorded.items()) + ')'
    else:
        mode = 'live against MXNet'
    this_run = report.record(results, report.versions([frameworks.SYSTEM, *names]), mode)
    print(', '.join(f'{k} {v}' for k, v in this_run['versions'].items()) + f'; {mode}')
    print(report.table(this_run['results']))
    failed = [r for r in results if not r.ok]
    print(f'{len(results) - len(failed)} passed, {len(failed)} failed')
    if args.json:
        pathlib.Path(args.json).write_text(report.dumps(this_run))
    if args.markdown:
        runs = [this_run] + [json.loads(pathlib.Path(path).read_text()) for path in args.include]
        pathlib.Path(args.markdown).write_text(report.markdown(runs, harness.discover()))
    return 1 if failed else 0
