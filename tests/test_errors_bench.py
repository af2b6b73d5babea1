"""``gluon-d2l bench``: every bad option or path is one line naming the option, before anything is
measured or written; ``--render`` never leaves a README cut; existing outputs need ``--force``."""
import json
import os

import pytest

from cli_support import bench_result, check_error_path, exit_status, markdown_with, small_disk
from gluon_d2l.program import files
from parity import bench

BEGIN, END = bench.RENDER_BEGIN, bench.RENDER_END


def _readme(text=None, raw=None):
    def setup(box, run):
        path = box / 'README.md'
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(markdown_with(BEGIN, END) if text is None else text)
        (box / 'bench.json').write_text(json.dumps(bench_result()))
        return {'readme': path, 'result': box / 'bench.json'}
    return setup


def _result_is(payload):
    def setup(box, run):
        paths = _readme()(box, run)
        (box / 'bench.json').write_bytes(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        return paths
    return setup


def _changed(**changes):
    result = bench_result()
    for key, value in changes.items():
        where, _, name = key.rpartition('__')
        (result[where] if where else result)[name] = value
    return result


def _existing(box, run):
    (box / 'mine.json').write_text('{"my": "results"}')
    (box / 'mine.png').write_bytes(b'my chart')
    (box / 'dir').mkdir()
    os.symlink(box / 'mine.json', box / 'link.json')
    os.mkfifo(box / 'fifo.json')
    return {}


def _linked_readme(box, run):
    paths = _readme()(box, run)
    os.symlink(box / 'README.md', box / 'link.md')
    return paths


def _fifo_result(box, run):
    paths = _readme()(box, run)
    (box / 'bench.json').unlink()
    os.mkfifo(box / 'bench.json')
    return paths


def _nothing(box, run):
    return {}


RENDER = ['bench', '--render', '{readme}', '--json', '{result}']


def case_id(i, argv):
    return f'{i:02d} ' + ' '.join(argv[1:])


# (argv with {names} for the sandbox's paths, the option named, sandbox set-up)
ERRORS = [
    (['bench', '--epochs', '0'], '--epochs', _nothing),
    (['bench', '--epochs', '100000'], '--epochs', _nothing),
    (['bench', '--repeats', '0'], '--repeats', _nothing),
    (['bench', '--repeats', '-3'], '--repeats', _nothing),
    (['bench', '--repeats', 'many'], '--repeats', _nothing),
    (['bench', '--hiddens', '0'], '--hiddens', _nothing),
    (['bench', '--hiddens', '100000'], '--hiddens', _nothing),
    (['bench', '--batch-size', '0'], '--batch-size', _nothing),
    (['bench', '--num-steps', '-1'], '--num-steps', _nothing),
    (['bench', '--batch-size', '500', '--num-steps', '500'], '--batch-size', _nothing),
    (['bench', '--quick', '--epochs', '2'], '--quick', _nothing),
    (['bench', '--sweep', '--profile'], '--profile', _nothing),
    (['bench', '--sweep', '--hiddens', '64'], '--hiddens', _nothing),
    (['bench', '--profile', '--png', '{box}/x.png'], '--png', _nothing),
    (['bench', '--json', '{box}/dir'], '--json', _existing),
    (['bench', '--json', '{box}/mine.json'], '--json', _existing),
    (['bench', '--json', '{box}/link.json'], '--json', _existing),
    (['bench', '--json', '{box}/fifo.json', '--force'], '--json', _existing),
    (['bench', '--json', '{box}/missing/dir/x.json'], '--json', _nothing),
    (['bench', '--json', ''], '--json', _nothing),
    (['bench', '--json', '/proc/x.json'], '--json', _nothing),
    (['bench', '--profile', '--json', '{box}/mine.json'], '--json', _existing),
    (['bench', '--png', '{box}/mine.png'], '--png', _existing),
    (['bench', '--png', '{box}/chart.txt'], '--png', _nothing),
    (['bench', '--png', '{box}/dir'], '--png', _existing),
    (['bench', '--render', '{box}/README.md'], '--render', _readme()),
    (['bench', '--render', '{box}/missing.md', '--json', '{result}'], '--render', _readme()),
    (RENDER, '--render', _readme(markdown_with(END, BEGIN))),  # the markers in reverse order
    (RENDER, '--render', _readme(markdown_with(BEGIN, 'no end'))),
    (RENDER, '--render', _readme(markdown_with(BEGIN, END) + BEGIN + '\n')),  # the begin marker twice
    (RENDER, '--render', _readme(raw=markdown_with(BEGIN, END).encode() + b'caf\xe9\n')),  # Latin-1, not UTF-8
    (RENDER, '--render', _readme('')),
    (['bench', '--render', '{box}/link.md', '--json', '{result}'], '--render', _linked_readme),
    (['bench', '--render', '{box}', '--json', '{result}'], '--render', _readme()),
    (RENDER + ['--png', '{box}/chart.txt'], '--png', _readme()),
    (RENDER + ['--png', '{box}/README.md', '--force'], '--png', _readme()),
    (RENDER + ['--quick'], '--quick', _readme()),
    (['bench', '--render', '{readme}', '--json', '{box}/missing.json'], '--json', _readme()),
    (RENDER, '--json', _result_is(b'')),
    (RENDER, '--json', _result_is(b'{"rows": [')),
    (RENDER, '--json', _result_is(b'\xff\xfe{}')),
    (RENDER, '--json', _result_is([])),
    (RENDER, '--json', _result_is({})),
    (RENDER, '--json', _result_is({'gluon_d2l hybrid': {'ms_per_step': 1, 'operators': []}})),  # a --profile JSON
    (RENDER, '--json', _result_is(_changed(rows=[]))),
    (RENDER, '--json', _result_is(_changed(rows='fast'))),
    (RENDER, '--json', _result_is(_changed(epochs='3'))),
    (RENDER, '--json', _result_is(_changed(machine__cores_usable=0))),
    (RENDER, '--json', _result_is(_changed(machine__loadavg_before=[]))),
    (RENDER, '--json', _result_is(_changed(machine__thread_env=['OMP_NUM_THREADS=2']))),
    (RENDER, '--json', _result_is(_changed(rows=[{'variant': 'gluon_d2l hybrid', 'tokens_per_sec': 'fast'}]))),
    (RENDER, '--json', _fifo_result),
]


@pytest.mark.parametrize('argv, option, setup', ERRORS, ids=[case_id(i, a) for i, (a, _, _) in enumerate(ERRORS)])
def test_bad_bench_input_is_one_line_naming_the_option_and_changes_nothing(argv, option, setup, tmp_path,
                                                                           monkeypatch, capsys):
    check_error_path(argv, option, setup, None, tmp_path / 'box', monkeypatch, capsys)


def test_the_table_check_catches_a_render_that_does_not_check_the_marker_order(tmp_path, monkeypatch, capsys):
    """Meta-test: with the marker check planted away, the reversed-marker case must fail the check."""
    with monkeypatch.context() as planted:
        planted.setattr(files, 'check_splice', lambda path, begin, end, subject: ('', ''))
        with pytest.raises(AssertionError):
            check_error_path(RENDER, '--render', _readme(markdown_with(END, BEGIN)), None, tmp_path / 'a', planted,
                             capsys)


def test_a_full_disk_during_render_leaves_the_readme_whole(tmp_path, monkeypatch, capsys):
    result = tmp_path / 'bench.json'
    result.write_text(json.dumps(bench_result()))
    with small_disk(tmp_path / 'disk', monkeypatch) as fill:
        readme = tmp_path / 'disk' / 'README.md'
        readme.write_text(markdown_with(BEGIN, END, lines=500))
        before = readme.read_bytes()
        fill()
        assert exit_status(['bench', '--render', str(readme), '--json', str(result)]) == 1
        assert readme.read_bytes() == before
        assert sorted(p.name for p in readme.parent.iterdir()) in (['README.md'], ['README.md', 'filler'])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('gluon-d2l: error:') and 'No space left' in err[0], err


def test_existing_outputs_survive_without_force_and_are_replaced_with_it(tmp_path, capsys):
    result, readme, chart = tmp_path / 'bench.json', tmp_path / 'README.md', tmp_path / 'bench.png'
    result.write_text(json.dumps(bench_result()))
    readme.write_text(markdown_with(BEGIN, END))
    chart.write_bytes(b'my own chart')
    argv = ['bench', '--render', str(readme), '--json', str(result), '--png', str(chart)]
    capsys.readouterr()
    assert exit_status(argv) == 2
    assert chart.read_bytes() == b'my own chart' and 'old section' in readme.read_text()
    err = capsys.readouterr().err
    assert err.startswith('gluon-d2l: error: --png:') and 'bench.png' in err and '--force' in err
    assert exit_status(argv + ['--force']) == 0
    assert chart.read_bytes().startswith(b'\x89PNG') and 'old section' not in readme.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []


def test_help_says_what_bench_writes_and_the_force_rule(capsys):
    assert exit_status(['bench', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    assert '--force' in text and 'an existing --json or --png file is refused unless --force' in text
