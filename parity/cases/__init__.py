"""Parity cases: one module per component, found by :func:`parity.harness.discover`.

A case module declares, and nothing else:

- a docstring whose first line names what is compared (it heads the report row);
- ``TOLERANCE = {'float64': atol, 'float32': atol}``: the largest absolute error allowed;
- ``inputs(rng)``: every input *and weight* as NumPy arrays, floats in float64 (the harness
  casts them to the dtype under test; integer and string arrays are kept as they are);
- optionally ``corpus_inputs()``: arrays read from The Time Machine (rebuilt on replay, never
  stored in a golden file);
- one function per framework, named as in :mod:`parity.frameworks` (``mxnet``, ``torch``,
  ``tensorflow``, ``jax``): ``fn(d2l, **inputs)`` gets that framework's adapter as ``d2l``
  and returns a dict of outputs (arrays, strings, or lists/dicts of them).

``mxnet`` is the system under test; every other function is compared with it, output by output.
"""
