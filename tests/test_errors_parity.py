"""``gluon-d2l parity``: every bad option or path is one line naming the option, before any case
runs (so these hold without a reference framework installed); outputs need ``--force``."""
import json
import os

import pytest

from cli_support import check_error_path, exit_status, parity_result
from gluon_d2l.program import files
from parity import cli as parity_cli


def _sandbox(box, run):
    (box / 'mine.json').write_text('{"my": "results"}')
    (box / 'mine.md').write_text('# my notes\n')
    (box / 'dir').mkdir()
    os.mkfifo(box / 'fifo.json')
    os.symlink(box / 'mine.json', box / 'link.json')
    (box / 'run.json').write_text(json.dumps(parity_result()))
    return {}


def _include(payload):
    def setup(box, run):
        _sandbox(box, run)
        (box / 'other.json').write_bytes(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        return {}
    return setup


def _huge_include(box, run):
    _sandbox(box, run)
    with open(box / 'other.json', 'wb') as f:
        f.truncate(parity_cli.MAX_INCLUDE + 1)  # sparse: no disk used
    return {}


CASE = '''"""A case of the user's own."""
TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}


def inputs(rng):
    return {'x': rng.normal(size=3)}


def mxnet(d2l, x):
    return {'y': d2l.tensor(x) * 2}


def torch(d2l, x):
    return {'y': d2l.tensor(x) * 2}
'''


def _cases(**files):
    """The sandbox, with ``cases/NAME.py`` (or ``DIR/NAME.py`` for a key ``DIR__NAME``) holding each text."""
    def setup(box, run):
        _sandbox(box, run)
        for key, text in files.items():
            directory, name = key.split('__') if '__' in key else ('cases', key)
            (box / directory).mkdir(exist_ok=True)
            (box / directory / f'{name}.py').write_text(text)
        return {}
    return setup


def _bad_result(**changes):
    run = parity_result()
    run['results'][0].update(changes)
    return run


MD = ['parity', '--markdown', '{box}/report.md']


def case_id(i, argv):
    return f'{i:02d} ' + ' '.join(argv[1:])


# (argv with {names} for the sandbox's paths, the option named, sandbox set-up)
ERRORS = [
    (['parity', '--frameworks', 'caffe'], '--frameworks', _sandbox),
    (['parity', '--frameworks', 'torch,caffe'], '--frameworks', _sandbox),
    (['parity', '--frameworks', ','], '--frameworks', _sandbox),
    (['parity', '--frameworks', ''], '--frameworks', _sandbox),
    (['parity', '--dtype', 'float16'], '--dtype', _sandbox),
    (['parity', '--cases', 'no_such_case'], '--cases', _sandbox),
    (['parity', '--cases', ' , '], '--cases', _sandbox),
    (['parity', '--json', '{box}/mine.json'], '--json', _sandbox),
    (['parity', '--json', '{box}/link.json'], '--json', _sandbox),
    (['parity', '--json', '{box}/dir'], '--json', _sandbox),
    (['parity', '--json', '{box}/fifo.json', '--force'], '--json', _sandbox),
    (['parity', '--json', '{box}/missing/dir/x.json'], '--json', _sandbox),
    (['parity', '--json', '/proc/parity.json'], '--json', _sandbox),
    (['parity', '--markdown', '{box}/missing/dir/x.md'], '--markdown', _sandbox),
    (['parity', '--markdown', '{box}/mine.md'], '--markdown', _sandbox),
    (['parity', '--markdown', ''], '--markdown', _sandbox),
    (['parity', '--json', '{box}/same', '--markdown', '{box}/same'], '--markdown', _sandbox),
    (['parity', '--include', '{box}/run.json'], '--include', _sandbox),  # nothing to include it in
    (MD + ['--include', '{box}/nosuch.json'], '--include', _sandbox),
    (MD + ['--include', '{box}/fifo.json'], '--include', _sandbox),
    (MD + ['--include', '{box}/dir'], '--include', _sandbox),
    (MD + ['--include', '{box}/link.json'], '--include', _sandbox),
    (MD + ['--include', '{box}/run.json', '--include', '{box}/other.json'], '--include', _include(b'')),
    (MD + ['--include', '{box}/other.json'], '--include', _include(b'{"mode": ')),
    (MD + ['--include', '{box}/other.json'], '--include', _include(b'\xff\xfe{}')),
    (MD + ['--include', '{box}/other.json'], '--include', _huge_include),
    (MD + ['--include', '{box}/other.json'], '--include', _include([])),
    (MD + ['--include', '{box}/other.json'], '--include', _include({'rows': []})),
    (MD + ['--include', '{box}/other.json'], '--include', _include(dict(parity_result(), results={}))),
    (MD + ['--include', '{box}/other.json'], '--include', _include(_bad_result(abs_err='large'))),
    (MD + ['--include', '{box}/other.json'], '--include', _include(_bad_result(status=None))),
    (MD + ['--include', '{box}/mine.json'], '--include', _sandbox),
    (['parity', '--json', '{box}/ünï cödé/r.json'], '--json', _sandbox),
    (['parity', '--cases-dir', '{box}/nowhere'], '--cases-dir', _sandbox),
    (['parity', '--cases-dir', '{box}/mine.json'], '--cases-dir', _sandbox),
    (['parity', '--cases-dir', '{box}/dir'], '--cases-dir', _sandbox),  # no case file
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(_helper=CASE)),  # helpers only
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(mine=CASE, broken='import no_such_package\n')),
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(broken='def inputs(rng)\n')),
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(partial=CASE.replace('def torch', 'def other'))),
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(partial=CASE.replace('TOLERANCE', 'TOL'))),
    (['parity', '--cases-dir', '{box}/cases', '--cases-dir', '{box}/more'], '--cases-dir',
     _cases(mine=CASE, more__mine=CASE)),
    (['parity', '--cases-dir', '{box}/cases'], '--cases-dir', _cases(my_dense=CASE)),  # a built-in case's name
    (['parity', '--cases-dir', '{box}/cases', '--cases', 'theirs'], '--cases', _cases(mine=CASE)),
    (['parity', '--cases-dir', '{box}/cases', '--replay'], '--replay', _cases(mine=CASE)),
    (['parity', '--installed-cases'], '--installed-cases', _sandbox),
]


@pytest.mark.parametrize('argv, option, setup', ERRORS, ids=[case_id(i, a) for i, (a, _, _) in enumerate(ERRORS)])
def test_bad_parity_input_is_one_line_naming_the_option_and_changes_nothing(argv, option, setup, tmp_path,
                                                                            monkeypatch, capsys):
    check_error_path(argv, option, setup, None, tmp_path / 'box', monkeypatch, capsys)


def test_the_table_check_catches_an_output_that_is_not_checked_first(tmp_path, monkeypatch, capsys):
    """Meta-test: with the output check planted away, the existing --json case must fail the check
    (the run goes on to the framework check and ends with status 1)."""
    with monkeypatch.context() as planted:
        planted.setattr(files, 'check_output', lambda *args, **kwargs: None)
        with pytest.raises(AssertionError):
            check_error_path(['parity', '--json', '{box}/mine.json'], '--json', _sandbox, None, tmp_path / 'a',
                             planted, capsys)


def test_python_m_parity_reports_bad_input_the_same_way(tmp_path, capsys):
    (tmp_path / 'mine.md').write_text('# my notes\n')
    assert parity_cli.main(['--markdown', str(tmp_path / 'mine.md')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('gluon-d2l: error: --markdown:') and 'mine.md' in err and '--force' in err
    assert len(err.splitlines()) == 1 and (tmp_path / 'mine.md').read_text() == '# my notes\n'


def test_help_says_what_parity_writes_and_the_force_rule(capsys):
    assert exit_status(['parity', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    assert '--force' in text and 'an existing one is refused unless --force' in text


# (argv, sandbox set-up, what the one line must name besides the option)
NAMED = [
    (['--cases-dir', '{box}/cases'], _cases(mine=CASE, broken='import no_such_package\n'),
     ['{box}/cases/broken.py', 'no_such_package']),
    (['--cases-dir', '{box}/cases'], _cases(partial=CASE.replace('def torch', 'def other')),
     ['{box}/cases/partial.py', 'reference']),
    (['--cases-dir', '{box}/cases', '--cases-dir', '{box}/more'], _cases(mine=CASE, more__mine=CASE),
     ['{box}/cases/mine.py', '{box}/more/mine.py']),
    (['--cases-dir', '{box}/cases'], _cases(my_dense=CASE), ['{box}/cases/my_dense.py', 'parity/cases/my_dense.py']),
    (['--cases-dir', '{box}/cases', '--replay'], _cases(mine=CASE), ['case mine', '{box}/cases/golden/mine.npz']),
    (['--cases-dir', '{box}/nowhere'], _sandbox, ['{box}/nowhere', 'does not exist']),
]


@pytest.mark.parametrize('argv, setup, named', NAMED,
                         ids=[case_id(i, ['parity'] + a) for i, (a, _, _) in enumerate(NAMED)])
def test_a_case_that_cannot_be_used_is_named_with_its_file(argv, setup, named, tmp_path, capsys):
    box = tmp_path / 'box'
    box.mkdir()
    setup(box, None)
    assert exit_status(['parity', *(a.format(box=box) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert all(part.format(box=box) in err for part in named), err
