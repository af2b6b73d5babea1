"""``gluon-d2l parity``: run the cases, print the table, exit non-zero on any failure.

A run that compares nothing (no reference framework installed) fails too, naming the
extras that install one. The cases are the built-in ones (``parity/cases/``) unless
``--cases-dir DIR`` (repeatable) or ``--installed-cases`` (the directories that installed packages
register under the entry-point group ``gluon_d2l.parity_cases``) picks others; a case's golden
file is in its directory's ``golden/`` (see ``parity/USER_CASES.md``).

Bad input (an unknown framework, cases matching nothing, an output that exists without
``--force``, an ``--include`` that is not a parity result, a case directory or case file that
cannot be loaded, a replay without a case's golden file) is a ``ConfigError`` naming the option,
raised before any case runs: ``gluon-d2l`` prints it as one line with exit status 2, as
:func:`main` does for ``python -m parity``. :func:`register` adds the command to ``gluon-d2l``
(entry point ``gluon_d2l.commands``).
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
    parser.add_argument('--cases-dir', metavar='DIR', action='append', default=[],
                        help='run the case files in DIR (one case per NAME.py, see parity/USER_CASES.md; golden '
                             'files in DIR/golden) instead of the built-in cases; repeatable')
    parser.add_argument('--installed-cases', action='store_true',
                        help=f'run the cases that installed packages ship (entry-point group {harness.ENTRY_POINTS}) '
                             'instead of the built-in cases; with --cases-dir, both')
    parser.add_argument('--json', metavar='FILE', help='also write the results as JSON to this new file')
    parser.add_argument('--markdown', metavar='FILE', help='also write the report as Markdown to this new file')
    parser.add_argument('--force', action='store_true', help='replace an existing --json or --markdown file')
    parser.add_argument('--include', metavar='FILE', action='append', default=[],
                        help='add the results of an earlier run (its --json, e.g. from another environment) '
                             'to the --markdown report; repeatable; read and checked before any case runs')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--record', action='store_true',
                      help='first write the golden files (inputs, weights, MXNet outputs) of the cases: '
                           'parity/golden/CASE.npz for a built-in case, DIR/golden/CASE.npz for one from --cases-dir')
    mode.add_argument('--replay', action='store_true',
                      help='compare with the golden files instead of running MXNet, and check today\'s '
                           'MXNet against them too (the default when MXNet is not installed)')


DESCRIPTION = ('Run every parity case with the same weights and inputs through MXNet and the reference '
               'frameworks (PyTorch, TensorFlow, JAX) and report the errors. It writes only the files named by '
               '--json and --markdown (and the golden files, with --record): an existing one is refused unless '
               '--force, and every option and path is checked before any case runs. Files are replaced whole or '
               'not at all (a temporary file, then renamed).')
EXTRAS = {'torch': 'gluon-d2l[torch]', 'tensorflow': 'gluon-d2l[tensorflow]', 'jax': 'gluon-d2l[jax]'}


def register(subparsers):
    """Add ``parity`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('parity', help='check MXNet against PyTorch/TensorFlow/JAX references',
                              description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(handler=run)


def _framework_names(text):
    """The ``--frameworks`` list, each known; ``ConfigError('frameworks')`` otherwise."""
    from gluon_d2l.program.config import ConfigError
    named = [n.strip() for n in (text if text is not None else ','.join(frameworks.REFERENCES)).split(',')
             if n.strip()]
    if not named:
        raise ConfigError('frameworks', f'expected a comma list of {", ".join(frameworks.PACKAGES)}, got {text!r}')
    unknown = [n for n in named if n not in frameworks.PACKAGES]
    if unknown:
        raise ConfigError('frameworks', f'unknown {", ".join(map(repr, unknown))}; known: '
                                        f'{", ".join(frameworks.PACKAGES)}')
    return named


def _sources(args):
    """The case directories of ``--cases-dir`` and ``--installed-cases`` (``None``: the built-in cases),
    each loaded and checked; ``ConfigError('cases_dir' or 'installed_cases')`` naming the directory or file."""
    from gluon_d2l.program.config import ConfigError
    if not args.cases_dir and not args.installed_cases:
        return None
    sources = [(directory, 'cases_dir', '') for directory in args.cases_dir]
    if args.installed_cases:
        try:
            installed = harness.installed_dirs()
        except harness.CaseError as err:
            raise ConfigError('installed_cases', str(err)) from None
        if not installed:
            raise ConfigError('installed_cases', f'no installed package ships parity cases (entry-point group '
                                                 f'{harness.ENTRY_POINTS})')
        sources += [(directory, 'installed_cases', f'entry point {name}: ') for name, directory in installed.items()]
    for directory, option, where in sources:
        try:
            harness.load_dir(directory)
        except harness.CaseError as err:
            raise ConfigError(option, where + str(err)) from None
    return [directory for directory, _, _ in sources]


def _cases(pattern, dirs, option):
    """The cases to run and all the cases of their sources; ``ConfigError('cases' or option)``."""
    from gluon_d2l.program.config import ConfigError
    if pattern is not None and not [p for p in pattern.split(',') if p.strip()]:
        raise ConfigError('cases', f'expected a comma list of case names, got {pattern!r}')
    try:
        every = harness.discover(None, dirs)
    except harness.CaseError as err:  # two cases of one name
        raise ConfigError(option, str(err)) from None
    cases = harness.discover(pattern, dirs) if pattern else every
    if not cases:
        raise ConfigError('cases', f'no case matches {pattern!r}; the cases: {", ".join(c.name for c in every)}')
    return cases, every


def _goldens(cases):
    """Each case's golden file, for a replay; ``ConfigError('replay')`` naming the case and the file."""
    from gluon_d2l.program.config import ConfigError
    for case in cases:
        if not case.golden.is_file():
            raise ConfigError('replay', f'no golden file for case {case.name}: expected {case.golden} (record it '
                                        'with --record where MXNet is installed)')


#: the fields of each result of a ``--json`` run that the Markdown report reads
RESULT_FIELDS = ('case', 'framework', 'dtype', 'abs_err', 'rel_err', 'tolerance', 'status', 'detail')


def include_problem(run):
    """What is wrong with ``run`` as the ``--json`` of a parity run (``None``: nothing)."""
    if not isinstance(run, dict):
        return f'a JSON {type(run).__name__}, not an object'
    if not isinstance(run.get('mode'), str) or not isinstance(run.get('versions'), dict) or \
            not isinstance(run.get('results'), list):
        return 'it needs mode (a string), versions (an object) and results (a list)'
    for i, item in enumerate(run['results']):
        if not isinstance(item, dict) or any(k not in item for k in RESULT_FIELDS):
            return f'results[{i}] lacks one of {", ".join(RESULT_FIELDS)}'
        for key in ('abs_err', 'rel_err', 'tolerance'):
            try:
                float(item[key])
            except (TypeError, ValueError):
                return f'results[{i}].{key} is not a number'
        if not all(isinstance(item[k], str) for k in RESULT_FIELDS if k not in ('abs_err', 'rel_err', 'tolerance')):
            return f'results[{i}]: case, framework, dtype, status and detail must be strings'
    return None


def _includes(paths):
    """The runs of the ``--include`` files, each read and checked; ``ConfigError('include')``."""
    from gluon_d2l.program import files
    from gluon_d2l.program.config import ConfigError
    runs = []
    for path in paths:
        try:
            run = json.loads(files.read_text(path, 'include', limit=MAX_INCLUDE))
        except json.JSONDecodeError as err:
            raise ConfigError('include', f'{path!r} is not JSON ({err})') from None
        problem = include_problem(run)
        if problem:
            raise ConfigError('include', f'{path!r} is not the --json of a parity run: {problem}')
        runs.append(run)
    return runs


#: the largest ``--include`` read (a run of every case in every framework is about 100 KiB)
MAX_INCLUDE = 16 << 20


def check(args):
    """Check every option and path before any case runs (loading the case files); return
    ``(frameworks, cases, included runs, every case of the sources)``."""
    from gluon_d2l.program import files
    from gluon_d2l.program.config import ConfigError
    named = _framework_names(args.frameworks)
    cases, every = _cases(args.cases, _sources(args), 'cases_dir' if args.cases_dir else 'installed_cases')
    if args.record and not frameworks.available(frameworks.SYSTEM):
        raise ConfigError('record', 'recording runs the cases through MXNet, which is not installed here')
    if args.replay or not frameworks.available(frameworks.SYSTEM):
        _goldens(cases)
    if args.include and not args.markdown:
        raise ConfigError('include', 'only the --markdown report shows included runs: add --markdown FILE')
    for option in ('json', 'markdown'):
        if getattr(args, option) is not None:
            files.check_output(getattr(args, option), option, force=args.force)
    if args.json is not None and args.markdown is not None and \
            pathlib.Path(args.json).absolute() == pathlib.Path(args.markdown).absolute():
        raise ConfigError('markdown', f'{args.markdown!r} is also the --json file')
    return named, cases, _includes(args.include), every


def main(argv=None, prog='python -m parity'):
    """``python -m parity``: :func:`run`, with bad input as one line and exit status 2."""
    import argparse
    from gluon_d2l.program.config import ConfigError
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as err:
        print(f'gluon-d2l: error: --{err.subject.replace("_", "-")}: {" ".join(str(err).split())}', file=sys.stderr)
        return 2


def run(args):
    """Run the parity check described by ``args``; return the exit status (0: all passed)."""
    from gluon_d2l.program import files
    named, cases, included, every = check(args)
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
        print('gluon-d2l: error: no reference framework is installed, so nothing would be compared; '
              'install one: ' + ', '.join(f'pip install "{EXTRAS[n]}"' for n in wanted), file=sys.stderr)
        return 1
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
        files.atomic_write(args.json, report.dumps(this_run))
    if args.markdown:
        files.atomic_write(args.markdown, report.markdown([this_run] + included, every))
    return 1 if failed else 0
