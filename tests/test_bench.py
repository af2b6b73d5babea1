"""``gluon-d2l bench``: interleaved rounds, medians and ranges, the machine record, ``--render``."""
import json

import pytest

from cli_support import bench_result
from parity import bench


@pytest.fixture
def fake_variants(monkeypatch):
    """Three MXNet "variants" that only log their calls: the order of the rounds is visible."""
    calls = []

    def variants(*args):
        return {name: (lambda name=name: calls.append(name)) for name in (bench.CHAPTER_VARIANT, 'gluon_d2l a')}
    monkeypatch.setattr(bench, 'mxnet_variants', variants)
    monkeypatch.setattr(bench, 'before_variants', lambda *args: {'gluon_d2l b (before: x)': lambda: calls.append('b')})
    return calls


def test_variants_are_timed_in_interleaved_rounds_after_one_warm_up_each(fake_variants, corpus_dir):
    rows, meta = bench.measure(epochs=1, hiddens=8, peers=False, repeats=3, progress=False)
    names = [bench.CHAPTER_VARIANT, 'gluon_d2l a', 'b']
    assert fake_variants == names + names * 3  # warm-ups, then A B C A B C A B C (not A A A B B B ...)
    for r in rows:
        assert len(r['samples']) == 3 and r['min'] <= r['tokens_per_sec'] <= r['max']
        assert r['tokens_per_sec'] == sorted(r['samples'])[1]  # the median of three
    assert meta['repeats'] == 3 and len(meta['gemm_gflops_samples']) == 3
    about = meta['machine']
    assert about['cores'] >= 1 and about['cpu'] and about['mxnet'] and about['numpy']
    assert 'MKLDNN' in about['mxnet_features'] or 'BLAS_OPEN' in about['mxnet_features']
    assert all(info['core'] for info in about['openblas'].values())


def test_the_targets_are_judged_from_the_medians_and_skip_the_before_rows():
    verdicts = bench.targets(bench_result()['rows'])
    assert [ok for _, ok in verdicts] == [True, True, True, False]  # 1.20x peer, 0.90 roofline, 3.5x, 0.93x
    assert 'gluon_d2l concise' in verdicts[0][0] and '(before' not in verdicts[0][0]


def test_render_rewrites_only_the_marked_section(tmp_path, capsys):
    readme, result = tmp_path / 'README.md', tmp_path / 'bench.json'
    result.write_text(json.dumps(bench_result()))
    marked = f'{bench.RENDER_BEGIN}\nstale 123456\n{bench.RENDER_END}'
    readme.write_text(f'# Title\n\nkept above\n\n{marked}\n\nkept below\n')
    args = ['bench', '--render', str(readme), '--json', str(result)]
    from gluon_d2l.program import cli
    assert cli.main(args) == 0
    text = readme.read_text()
    assert text.startswith('# Title\n\nkept above\n\n') and text.endswith('\n\nkept below\n')
    assert 'stale 123456' not in text and text.count(bench.RENDER_BEGIN) == 1
    assert '| gluon_d2l concise | 90000 | 89000–91000 | 4.50 | 1.20 | 0.90 |' in text
    assert 'Test CPU' in text and 'OMP_NUM_THREADS=2' in text and 'torch 2.13.0' in text
    assert 'hybrid ≥ 1.0× the best peer: 0.93×: **not met**' in text
    assert cli.main(args) == 0 and readme.read_text() == text  # idempotent


def test_render_refuses_a_file_without_the_markers_in_one_line(tmp_path, capsys):
    readme, result = tmp_path / 'README.md', tmp_path / 'bench.json'
    result.write_text(json.dumps(bench_result()))
    readme.write_text('no markers here\n')
    from gluon_d2l.program import cli
    assert cli.main(['bench', '--render', str(readme), '--json', str(result)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('gluon-d2l: error: --render:') and 'must have the line' in err and err.count('\n') == 1
    assert readme.read_text() == 'no markers here\n'
    assert cli.main(['bench', '--render', str(readme)]) == 2
    assert '--render: needs --json' in capsys.readouterr().err


def test_profile_gives_each_models_operators_per_step_largest_first(corpus_dir):
    result = bench.profile(epochs=1, hiddens=16, max_tokens=2000, top=3)
    assert set(result) == {'gluon_d2l hybrid', 'gluon_d2l concise'}
    for got in result.values():
        names = [name for name, _ in got['operators']]
        times = [ms for _, ms in got['operators']]
        assert len(names) == 4 and names[-1] == '(others)'
        assert times[:3] == sorted(times[:3], reverse=True) and all(ms >= 0 for ms in times)
        assert any(name.startswith('RNN') or ',RNN' in name or name.startswith('_backward_RNN') for name in names)
        assert got['ms_per_step'] > 0


def test_ratios_are_paired_within_rounds_so_drift_between_rounds_cancels():
    fast, slow = [10.0, 30.0, 12.0], [5.0, 15.0, 30.0]  # the machine ran 3x faster in round 2; round 3 is an outlier
    assert bench.paired_ratio(fast, slow) == 2.0  # medians alone would give 12 / 15 = 0.8
    assert bench.paired_ratio(fast, None) != bench.paired_ratio(fast, None)  # NaN without a reference


def test_a_busy_machine_is_told_by_the_load_before_the_run_not_the_benchmarks_own():
    result = bench_result()  # load average 0.1 before, 1.9 after (the benchmark's own threads)
    assert 'was busy' not in bench.render_markdown(result)
    result['machine']['loadavg_before'] = [1.5, 0, 0]
    assert '**The machine was busy** (load average 0.8 per usable core before the run)' in bench.render_markdown(result)
