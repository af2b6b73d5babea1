"""The NumPy shim (gluon_d2l.numpy_compat) on whatever NumPy this environment has.

The same tests run in every cell of the tox matrix (NumPy 1.23 to 2.x): they check that the shim
only adds names, adds exactly the ones this NumPy lacks, that every NumPy name MXNet 1.9.1
uses resolves, that the stand-ins compute what the removed functions did (and still dispatch
``mx.np`` arrays to MXNet), and that MXNet imports, trains and compares arrays.
"""
import ast
import json
import math
import os
import pathlib
import subprocess
import sys
import warnings

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet import np as mnp

from gluon_d2l import numpy_compat

NUMPY = tuple(int(part) for part in numpy.__version__.split('.')[:2])
# These tests call NumPy's own deprecated names on purpose (NumPy 1.25-1.26 and 2.0-2.3 warn)
pytestmark = pytest.mark.filterwarnings('ignore:.*is deprecated:DeprecationWarning')

CONSTANTS = {'PZERO', 'NZERO', 'PINF', 'NINF', 'NAN', 'NaN', 'Inf'}
REMOVED_IN_2_0 = CONSTANTS | {'int', 'sometrue', 'alltrue', 'product', 'round_', 'msort', 'compat',
                              'mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate'}


def expected_restored():
    """What NumPy removed, by release (``bool`` came back in 2.0 as ``numpy.bool_``)."""
    if NUMPY < (1, 24):
        return set()
    if NUMPY < (2, 0):
        return {'bool', 'int'}
    if NUMPY < (2, 4):
        return REMOVED_IN_2_0
    return REMOVED_IN_2_0 | {'in1d', 'trapz'}


def test_restored_names_are_what_this_numpy_removed():
    assert numpy_compat.restored_names() == sorted(expected_restored()), numpy.__version__
    assert numpy_compat.install() == sorted(expected_restored())   # idempotent


AUDIT = r'''
import importlib.util, json, sys, warnings
import numpy
spec = importlib.util.spec_from_file_location('numpy_compat', sys.argv[1])
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)       # importing the module alone changes nothing
warnings.simplefilter('ignore')
before = dict(vars(numpy))
had = {name: hasattr(numpy, name) for name in compat.REPLACEMENTS}
assert dict(vars(numpy)) == before, 'hasattr() loaded something'
restored = compat.install()
after = dict(vars(numpy))
print(json.dumps({
    'changed': sorted(name for name in before if after.get(name) is not before[name]),
    'added': sorted(set(after) - set(before)),
    'restored': restored,
    'had': sorted(name for name, present in had.items() if present),
    'identical': all(getattr(numpy, name) is value for name, value in compat.REPLACEMENTS.items()
                     if name in restored),
}))
'''


def test_install_only_adds_missing_names_in_a_fresh_interpreter():
    """Before/after snapshot of ``vars(numpy)`` in a process where nothing else touched NumPy."""
    out = subprocess.run([sys.executable, '-c', AUDIT, numpy_compat.__file__], check=True,
                         capture_output=True, text=True).stdout
    audit = json.loads(out)
    assert audit['changed'] == [], 'install() replaced existing NumPy attributes'
    assert audit['added'] == audit['restored'] == sorted(expected_restored())
    assert set(audit['had']).isdisjoint(audit['restored'])
    assert set(audit['had']) | set(audit['restored']) == set(numpy_compat.REPLACEMENTS)
    assert audit['identical']


# --- every NumPy name MXNet uses -----------------------------------------------------------

MXNET = pathlib.Path(mx.__file__).parent


def _numpy_names_used_by_mxnet():
    """Dotted ``numpy`` names in MXNet's sources: ``np.x.y`` attribute chains on any alias of
    ``numpy``, ``from numpy import x``, and the name lists MXNet resolves with ``getattr``."""
    used = {}
    for path in MXNET.rglob('*.py'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')       # invalid escapes in MXNet's docstrings
            tree = ast.parse(path.read_text(encoding='utf-8'))
        where = str(path.relative_to(MXNET))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases.update({a.asname or a.name: a.name for a in node.names
                                if a.name.split('.')[0] == 'numpy' and (a.asname or a.name == 'numpy')})
            elif isinstance(node, ast.ImportFrom) and node.module == 'numpy' and not node.level:
                used.update({f'numpy.{a.name}': where for a in node.names})
            elif isinstance(node, ast.Assign) and where in {'numpy_dispatch_protocol.py', 'numpy/fallback.py'} \
                    and any(getattr(t, 'id', None) in ('_NUMPY_ARRAY_FUNCTION_LIST', '__all__')
                            for t in node.targets):
                used.update({f'numpy.{e.value}': where for e in node.value.elts})
        for node in ast.walk(tree):
            chain = []
            while isinstance(node, ast.Attribute):
                chain.insert(0, node.attr)
                node = node.value
            if chain and isinstance(node, ast.Name) and node.id in aliases:
                used.setdefault('.'.join([aliases[node.id]] + chain), where)
    return used


@pytest.fixture(scope='module')
def numpy_names_used_by_mxnet():
    return _numpy_names_used_by_mxnet()


def _resolves(dotted):
    """Whether ``numpy.a.b.c`` resolves, following modules only (stops at the first non-module)."""
    obj = numpy
    for part in dotted.split('.')[1:]:
        if not isinstance(obj, type(numpy)):
            return True
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
    return True


def test_every_numpy_name_mxnet_uses_resolves(numpy_names_used_by_mxnet):
    assert len(numpy_names_used_by_mxnet) > 300    # the scan really read MXNet
    missing = {name: where for name, where in numpy_names_used_by_mxnet.items() if not _resolves(name)}
    assert missing == {}, f'numpy {numpy.__version__}: add these to numpy_compat.REPLACEMENTS'


def test_every_replacement_is_used_by_mxnet(numpy_names_used_by_mxnet):
    used = {name.split('.')[1] for name in numpy_names_used_by_mxnet}
    assert set(numpy_compat.REPLACEMENTS) - used == set()


# --- the stand-ins compute what NumPy's removed functions did ------------------------------

X = [[3.0, 1.0], [0.0, 2.0]]
CASES = [  # name, args, kwargs, expected (what NumPy 1.23's function returns)
    ('sometrue', (X,), {}, True),
    ('sometrue', (X,), {'axis': 0}, [True, True]),
    ('alltrue', (X,), {}, False),
    ('alltrue', (X,), {'axis': 1}, [True, False]),
    ('product', (X,), {}, 0.0),
    ('product', (X,), {'axis': 0}, [0.0, 2.0]),
    ('round_', ([1.234, -5.678],), {'decimals': 1}, [1.2, -5.7]),
    ('msort', (X,), {}, [[0.0, 1.0], [3.0, 2.0]]),
    ('in1d', (X, [1.0, 2.0]), {}, [False, True, False, True]),
    ('in1d', (X, [1.0, 2.0]), {'invert': True}, [True, False, True, False]),
    ('trapz', ([1.0, 2.0, 4.0],), {}, 4.5),
    ('trapz', ([1.0, 2.0, 4.0],), {'x': [0.0, 1.0, 3.0]}, 7.5),
]


@pytest.mark.parametrize('where', ['replacement', 'numpy'])
@pytest.mark.parametrize('name,args,kwargs,expected', CASES)
def test_function_stand_ins_compute_the_removed_functions(where, name, args, kwargs, expected):
    """Each stand-in, and ``numpy.<name>`` (NumPy's own where it still exists), give NumPy 1.23's result."""
    if where == 'replacement' and name == 'trapz' and NUMPY < (2, 0):
        pytest.skip('its target numpy.trapezoid came in NumPy 2.0 (and numpy.trapz itself exists here)')
    func = numpy_compat.REPLACEMENTS[name] if where == 'replacement' else getattr(numpy, name)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        got = func(*args, **kwargs)
    numpy.testing.assert_array_equal(got, expected)
    assert numpy.shape(got) == numpy.shape(expected)


@pytest.mark.parametrize('where', ['replacement', 'numpy'])
def test_constants_and_aliases(where):
    def get(name):
        if where == 'replacement':
            return numpy_compat.REPLACEMENTS[name]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            return getattr(numpy, name)
    assert get('PZERO') == 0.0 and math.copysign(1.0, get('PZERO')) == 1.0
    assert get('NZERO') == 0.0 and math.copysign(1.0, get('NZERO')) == -1.0
    assert get('PINF') == get('Inf') == math.inf and get('NINF') == -math.inf
    assert math.isnan(get('NAN')) and math.isnan(get('NaN'))
    assert get('compat').basestring is str
    assert numpy.dtype(get('int')) == numpy.dtype(int)
    assert numpy.dtype(get('bool')) == numpy.dtype(bool)


@pytest.mark.parametrize('name', ['mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate'])
def test_financial_names_raise_like_numpy_1_20_to_1_26(name):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        for func in (numpy_compat.REPLACEMENTS[name], getattr(numpy, name)):
            with pytest.raises(RuntimeError, match='numpy_financial'):
                func(0.1, [1.0, 2.0])


# --- MXNet on this NumPy ---------------------------------------------------------------------

DISPATCH = [  # stand-in and its arguments, the mx.np operator it must reach and its arguments
    ('product', {}, 'prod', {}), ('sometrue', {}, 'any', {}),
    ('round_', {'decimals': 1}, 'round', {'decimals': 1}),
    ('alltrue', {}, 'all', {}), ('msort', {}, 'sort', {'axis': 0}),
]


@pytest.mark.parametrize('where,name,kwargs,mx_name,mx_kwargs',
                         [('replacement',) + case for case in DISPATCH] +
                         # MXNet registers these three old names in its __array_function__ table
                         [('numpy',) + case for case in DISPATCH[:3]])
def test_stand_ins_dispatch_mx_np_arrays_to_mxnet(where, name, kwargs, mx_name, mx_kwargs):
    """Inside ``autograd.record()`` MXNet refuses to fall back to NumPy, so a result there means
    the call reached MXNet's own operator through ``__array_function__``."""
    func = numpy_compat.REPLACEMENTS[name] if where == 'replacement' else getattr(numpy, name)
    x = mnp.array([[3.0, 1.5], [0.5, 2.0]])
    x.attach_grad()
    with autograd.record():
        y = func(x, **kwargs)
    assert isinstance(y, mnp.ndarray)
    numpy.testing.assert_array_equal(y.asnumpy(), getattr(mnp, mx_name)(x, **mx_kwargs).asnumpy())
    if name == 'product':                   # and gradients flow through it
        with autograd.record():
            y = func(x)
        y.backward()
        numpy.testing.assert_allclose(x.grad.asnumpy(), 4.5 / x.asnumpy(), rtol=1e-6)


def test_mx_np_functions_that_use_restored_names():
    x = mnp.array([[1.0, 2.0], [3.0, 4.0]])
    numpy.testing.assert_array_equal(mnp.pad(x, ((1, 0), (0, 1))).asnumpy(),     # numpy.compat
                                     [[0, 0, 0], [1, 2, 0], [3, 4, 0]])
    numpy.testing.assert_array_equal(mnp.in1d(x, mnp.array([2.0, 3.0])).asnumpy(), [0, 1, 1, 0])
    numpy.testing.assert_array_equal(mnp.trapz(x).asnumpy(), [1.5, 3.5])
    numpy.testing.assert_array_equal(mnp.msort(x[::-1]).asnumpy(), x.asnumpy())
    assert bool(mnp.alltrue(x)) and math.isinf(mx.numpy.PINF) and math.isnan(mx.numpy.NaN)


def test_assert_almost_equal_accepts_close_and_rejects_different_arrays():
    a = mnp.array([1.0, 2.0, 3.0])
    mx.test_utils.assert_almost_equal(a, a.asnumpy() + 1e-7)
    mx.test_utils.assert_almost_equal(a.asnumpy(), a.asnumpy(), rtol=0, atol=0)
    with pytest.raises(AssertionError):
        mx.test_utils.assert_almost_equal(a, a.asnumpy() + 1e-2)
    with pytest.raises(AssertionError):
        mx.test_utils.assert_almost_equal(a.asnumpy(), numpy.array([1.0, 2.0, 3.5]))


def test_a_gluon_model_trains_with_autograd_and_trainer():
    mx.random.seed(0)
    X = mnp.random.normal(size=(64, 3))
    y = mnp.dot(X, mnp.array([[2.0], [-3.4], [1.0]])) + 4.2
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(8, activation='relu'), gluon.nn.Dense(1))
    net.initialize(mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
    loss = gluon.loss.L2Loss()
    losses = []
    for _ in range(20):
        with autograd.record():
            batch_loss = loss(net(X), y)
        batch_loss.backward()
        trainer.step(X.shape[0])
        losses.append(float(batch_loss.mean()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.25 * losses[0], losses


# --- NumPy scalars as MXNet operator arguments ---------------------------------------------------

I2, I3, I4 = numpy.int64(2), numpy.int64(3), numpy.int64(4)
SCALAR_ARGUMENTS = {   # an MXNet call whose operator arguments hold NumPy scalars -> what it must give
    'nd.ones shape': (lambda: mx.nd.ones((I2, I3)).shape, (2, 3)),
    'np reshape': (lambda: mnp.ones(6).reshape((I2, I3)).shape, (2, 3)),
    'np.split indices': (lambda: [p.shape for p in mnp.split(mnp.ones(6), [I2, I4])], [(2,), (2,), (2,)]),
    'symbol shape attribute': (lambda: mx.sym.var('x', shape=(I2, I3)).infer_shape()[1], [(2, 3)]),
    'symbol reshape': (lambda: mx.sym.reshape(mx.sym.var('x'), shape=(I2, I3)).infer_shape(x=(6,))[1], [(2, 3)]),
    'split_and_load uneven': (lambda: [p.shape for p in gluon.utils.split_and_load(
        mnp.ones((5, 2)), [mx.cpu(0), mx.cpu(1)], even_split=False)], [(3, 2), (2, 2)]),
    'init.Constant dumps': (lambda: json.loads(mx.init.Constant(mx.nd.ones((I2,))).dumps()),
                            ['constant', {'value': [1.0, 1.0]}]),
}


@pytest.mark.parametrize('name', sorted(SCALAR_ARGUMENTS))
def test_numpy_scalars_as_operator_arguments(name):
    call, expected = SCALAR_ARGUMENTS[name]
    assert call() == expected


@pytest.mark.parametrize('name', sorted(SCALAR_ARGUMENTS))
def test_operator_arguments_fail_without_the_fix_on_numpy_2(name, monkeypatch):
    """The planted bug: MXNet's own ``str`` back in its modules. On NumPy 2 every case fails
    again, so the cases above test the fix; on NumPy 1 there is nothing to fix."""
    if NUMPY < (2, 0):
        assert numpy_compat.fixed_modules() == []
        assert SCALAR_ARGUMENTS[name][0]() == SCALAR_ARGUMENTS[name][1]
        return
    assert numpy_compat.fixed_modules() == sorted(numpy_compat.STRINGIFYING_MODULES)
    for module in numpy_compat.STRINGIFYING_MODULES:
        monkeypatch.setattr(sys.modules[module], 'str', str)
    with pytest.raises(Exception, match=r'np\.int64|Invalid attribute'):
        SCALAR_ARGUMENTS[name][0]()


@pytest.mark.parametrize('value,text', [
    ((I2,), '(2,)'), ([0, I2, I4], '[0, 2, 4]'), ((numpy.float32(0.1), 2.5), '(0.1, 2.5)'),
    ((numpy.bool_(True), 'a'), "(True, 'a')"), (((I2, I3), [I4]), '((2, 3), [4])'),
])
def test_operator_argument_str_writes_numpy_scalars_like_numpy_1(value, text):
    assert numpy_compat.OperatorArgumentStr(value) == text


@pytest.mark.parametrize('value', [4, 'relu', (2, 3), [1, (2, 3)], None, True, 0.1, (), I4, numpy.float32(0.5),
                                   {'a': 1}, mx.cpu(0), numpy.dtype('float32')])
def test_operator_argument_str_is_str_for_everything_else(value):
    got = numpy_compat.OperatorArgumentStr(value)
    assert got == str(value) and type(got) is str
    assert isinstance('text', numpy_compat.OperatorArgumentStr) and not isinstance(4, numpy_compat.OperatorArgumentStr)
    assert numpy_compat.OperatorArgumentStr(b'ab', 'ascii') == 'ab'


def test_numpys_print_options_are_untouched():
    assert numpy.get_printoptions()['legacy'] is False
    if NUMPY >= (2, 0):
        assert repr(I4) == 'np.int64(4)' and str((I4,)) == '(np.int64(4),)'


# --- the import hook ---------------------------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_python(code, **env_vars):
    """Run ``code`` in a fresh interpreter that has the repository on its path."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', **env_vars)
    for name, value in env_vars.items():
        if value is None:
            env.pop(name)
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300)


PTH = f'import site; site.addpackage({str(REPO)!r}, "gluon_d2l_hook.pth", set())\n'
TRAIN_A_STEP = r'''
import json, sys
import mxnet as mx, numpy
from mxnet import autograd, gluon, nd
net = gluon.nn.Dense(1)
net.initialize()
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
x, y = nd.random.normal(shape=(8, 3)), nd.ones((8, 1))
losses = []
for _ in range(2):
    with autograd.record():
        l = gluon.loss.L2Loss()(net(x), y)
    l.backward()
    trainer.step(8)
    losses.append(float(l.mean().asscalar()))
compat = sys.modules.get('gluon_d2l.numpy_compat')
print(json.dumps({'losses': losses, 'package_imported': 'gluon_d2l' in sys.modules,
                  'restored': compat.restored_names() if compat else None,
                  'fixed': compat.fixed_modules() if compat else None,
                  'reshape': mx.np.ones(6).reshape((numpy.int64(2), numpy.int64(3))).shape,
                  'np_mode': mx.util.is_np_array(),
                  'hooks_left': [type(f).__name__ for f in sys.meta_path if 'D2L' in type(f).__name__ or
                                 type(f).__name__ == 'type' and 'MXNet' in f.__name__]}))
'''


def test_the_pth_hook_makes_a_bare_import_mxnet_work():
    """``import mxnet`` with the .pth processed (as site does at start-up) and gluon_d2l never imported."""
    result = run_python(PTH + TRAIN_A_STEP)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out['losses'][1] < out['losses'][0]
    assert out['package_imported'] is False and out['np_mode'] is False
    assert out['restored'] == sorted(expected_restored())
    assert out['fixed'] == (sorted(numpy_compat.STRINGIFYING_MODULES) if NUMPY >= (2, 0) else [])
    assert out['reshape'] == [2, 3] and out['hooks_left'] == []


def test_importing_gluon_d2l_after_the_hook_reuses_its_shim():
    result = run_python(PTH + 'import mxnet, sys\nshim = sys.modules["gluon_d2l.numpy_compat"]\n'
                              'import gluon_d2l\nprint(gluon_d2l.numpy_compat is shim, mxnet.util.is_np_array())')
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['True', 'False']


def test_the_hook_ignores_other_imports_and_can_be_turned_off():
    """One hook however often the .pth is read (a venv's lib64 -> lib link makes site read it twice)."""
    probe = PTH + PTH + ('import sys; print(sum(type(f).__name__ == "GluonD2LHook" for f in sys.meta_path), '
                         'sys.meta_path[0].find_spec("json"), "_gluon_d2l_hook" in sys.modules)')
    result = run_python(probe, GLUON_D2L_NO_HOOK=None)
    assert result.stdout.split() == ['1', 'None', 'False'], result.stderr[-2000:]
    result = run_python(PTH + 'import sys; print([type(f).__name__ for f in sys.meta_path])', GLUON_D2L_NO_HOOK='1')
    assert 'GluonD2LHook' not in result.stdout, result.stdout


def test_without_the_hook_a_bare_import_mxnet_fails_on_numpy_1_24_and_later():
    """What the hook is for (and proof that the test above needs it)."""
    result = run_python('import mxnet', GLUON_D2L_NO_HOOK='1')
    assert (result.returncode == 0) == (NUMPY < (1, 24)), result.stderr[-2000:]


FAKE_TENSORFLOW = '''
import sys, types
tf = types.ModuleType('tensorflow')
tf.__version__ = {version!r}
sys.modules['tensorflow'] = tf
'''


@pytest.mark.parametrize('version', ['2.12.0', '2.13.1', '2.14.1', '2.17.1'])
@pytest.mark.parametrize('how', ['hook', 'import gluon_d2l'])
def test_tensorflow_that_kills_mxnet_gives_an_import_error(version, how):
    """A stand-in ``tensorflow`` module with that version is in ``sys.modules`` (no TensorFlow needed)."""
    code = FAKE_TENSORFLOW.format(version=version) + (PTH + 'import mxnet' if how == 'hook' else 'import gluon_d2l')
    code = ('try:\n' + ''.join('    ' + line + '\n' for line in code.splitlines() if line) +
            'except ImportError as err:\n    print("ImportError:", err)\n'
            '    import sys; print("retry checked:", any(type(f).__name__ in ("GluonD2LHook", "type") and '
            '"mxnet" not in sys.modules for f in sys.meta_path[:1]))\n')
    result = run_python(code, GLUON_D2L_NO_HOOK='1' if how != 'hook' else None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'ImportError: mxnet is being imported after tensorflow {version}' in result.stdout
    assert 'Import mxnet (or gluon_d2l) before tensorflow' in result.stdout
    if how == 'hook':
        assert 'retry checked: True' in result.stdout


@pytest.mark.parametrize('version', ['2.15.1', '2.16.2', 'unknown'])
def test_tensorflow_releases_that_work_are_let_through(version):
    result = run_python(FAKE_TENSORFLOW.format(version=version) + PTH + 'import mxnet; print(mxnet.__version__)')
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['1.9.1']


def test_build_puts_the_pth_file_at_the_top_of_the_wheel(tmp_path):
    """setup.py's build_py (what ``python -m build --wheel`` runs) copies the hook next to the packages."""
    result = subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib', str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / 'gluon_d2l_hook.pth').read_text() == (REPO / 'gluon_d2l_hook.pth').read_text()
    assert (tmp_path / '_gluon_d2l_hook.py').is_file() and (tmp_path / 'gluon_d2l' / 'numpy_compat.py').is_file()
