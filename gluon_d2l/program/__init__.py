"""The ``gluon-d2l`` program on top of the d2l API: the command line and what it runs.

- :mod:`.config`: ``TrainConfig``, the settings of a run (defaults, checks, strict JSON).
- :mod:`.rundir`: ``RunDir``, the run directory a trainer owns (lock, atomic files, checkpoints).
- :mod:`.checkpoints`: parameter files and checkpoint contents, checked before use.
- :mod:`.jobs`: the ``train``/``resume``/``predict`` jobs (progress as a callback, no flags).
- :mod:`.distributed`: one worker of a ``dist_sync`` job.
- :mod:`.launcher`: ``gluon-d2l launch``, a whole job on this machine.
- :mod:`.plots`: the perplexity curve.
- :mod:`.cli`: the flags, and the one-line errors that name them.

The d2l API (the rest of ``gluon_d2l``) never imports this package.
"""
