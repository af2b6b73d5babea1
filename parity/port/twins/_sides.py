"""The twin side: a torch module or a Keras model behind one interface (its variables by name,
get/set, save/restore, forward, and forward-backward-SGD step)."""
import numpy

from .. import graph as G


def _framework(twin):
    for cls in type(twin).__mro__:
        module = cls.__module__ or ''
        if module.startswith('torch'):
            return 'torch'
        if module.startswith(('keras', 'tf_keras', 'tensorflow')):
            return 'keras'
    raise TypeError(f'the twin is a {type(twin).__name__}: a torch.nn.Module or a Keras model is expected')


class _TorchTwin:
    framework = 'torch'

    def __init__(self, module):
        import torch
        self.torch, self.module = torch, module
        self.params = dict(module.named_parameters())
        self.buffers = {n: b for n, b in module.named_buffers() if b.is_floating_point()}

    def variables(self):
        """``[(name, shape, dtype, trainable)]`` in the twin's order: parameters, then float buffers."""
        return ([(n, tuple(p.shape), str(p.dtype).replace('torch.', ''), p.requires_grad)
                 for n, p in self.params.items()] +
                [(n, tuple(b.shape), str(b.dtype).replace('torch.', ''), False) for n, b in self.buffers.items()])

    def lookup(self, name):
        return name if name in self.params or name in self.buffers else None

    def get(self, name):
        return (self.params.get(name) if name in self.params else self.buffers[name]).detach().cpu().numpy().copy()

    def set(self, name, array):
        with self.torch.no_grad():
            (self.params.get(name) if name in self.params else self.buffers[name]).copy_(self.torch.from_numpy(
                numpy.ascontiguousarray(array)))

    def save(self):
        return {k: v.detach().clone() for k, v in self.module.state_dict(keep_vars=True).items()}, self.module.training

    def restore(self, saved):
        state, training = saved
        self.module.load_state_dict(state)
        self.module.train(training)

    def _call(self, xs, fmt, training):
        self.module.train(training)
        outs, _ = G.flatten(self.module(*G.regroup(xs, fmt)))
        return outs

    def forward(self, inputs, fmt, training):
        with self.torch.no_grad():
            return [o.detach().numpy() for o in self._call([self._tensor(a) for a in inputs], fmt, training)]

    def _tensor(self, a):
        return self.torch.from_numpy(numpy.ascontiguousarray(a))

    def run(self, inputs, fmt, cotangents, training, lr):
        """Forward, backward, buffers, one ``torch.optim.SGD`` step: ``{kind: ...}`` keyed by twin names."""
        torch = self.torch
        xs = [self._tensor(a) for a in inputs]
        for x in xs:
            if x.is_floating_point():
                x.requires_grad_(True)
        self.module.zero_grad(set_to_none=True)
        outs = self._call(xs, fmt, training)
        total = sum((o * self._tensor(cotangents(k, tuple(o.shape), str(o.dtype).replace('torch.', '')))).sum()
                    for k, o in enumerate(outs))
        total.backward()
        result = {'output': [o.detach().numpy() for o in outs],
                  'input grad': {i: x.grad.numpy() for i, x in enumerate(xs) if x.grad is not None},
                  'grad': {n: p.grad.detach().numpy().copy() for n, p in self.params.items() if p.grad is not None},
                  'aux': {n: b.detach().numpy().copy() for n, b in self.buffers.items()}}
        trainable = [p for p in self.params.values() if p.requires_grad]
        if trainable:
            torch.optim.SGD(trainable, lr=lr).step()
        result['after step'] = {n: p.detach().numpy().copy() for n, p in self.params.items()}
        self.module.zero_grad(set_to_none=True)
        return result


class _KerasTwin:
    framework = 'keras'

    def __init__(self, model):
        from .. import keras as K  # imports MXNet before TensorFlow
        self.tf, self.keras, self.model = K.tf, K.keras, model
        if not model.built or not model.weights:
            raise ValueError('the Keras twin has no weights yet: build it (call it once on an example input)')
        self.vars = {v.path: v for v in model.weights if self.tf.as_dtype(v.dtype).is_floating}

    def variables(self):
        return [(p, tuple(v.shape), self.tf.as_dtype(v.dtype).name, bool(v.trainable)) for p, v in self.vars.items()]

    def lookup(self, name):
        if name in self.vars:
            return name
        tails = [p for p in self.vars if p.endswith('/' + name)]
        return tails[0] if len(tails) == 1 else None

    def get(self, name):
        return numpy.array(self.vars[name].numpy())

    def set(self, name, array):
        self.vars[name].assign(numpy.ascontiguousarray(array))

    def save(self):
        return [numpy.array(v.numpy()) for v in self.model.variables]

    def restore(self, saved):
        for v, value in zip(self.model.variables, saved):
            v.assign(value)

    def _call(self, xs, fmt, training):
        args = G.regroup(xs, fmt)
        functional = isinstance(getattr(self.model, 'inputs', None), (list, tuple)) and len(self.model.inputs) > 1
        if functional and len(args) > 1:
            args = (list(args),)
        outs, _ = G.flatten(self.model(*args, training=training))
        return outs

    def forward(self, inputs, fmt, training):
        return [numpy.asarray(o) for o in self._call([self.tf.constant(a) for a in inputs], fmt, training)]

    def run(self, inputs, fmt, cotangents, training, lr):
        """Forward, backward, non-trainable variables, one ``keras.optimizers.SGD`` step, by variable path."""
        tf = self.tf
        xs = [tf.constant(a) for a in inputs]
        floating = [i for i, a in enumerate(inputs) if a.dtype.kind == 'f']
        trainable = [v for v in self.model.trainable_variables if v.path in self.vars]
        with tf.GradientTape() as tape:
            for i in floating:
                tape.watch(xs[i])
            outs = self._call(xs, fmt, training)
            total = tf.add_n([tf.reduce_sum(o * cotangents(k, tuple(o.shape), o.dtype.name))
                              for k, o in enumerate(outs)])
        grads = [None if g is None else tf.convert_to_tensor(g)  # Embedding's gradient is IndexedSlices
                 for g in tape.gradient(total, [xs[i] for i in floating] + trainable)]
        in_grads, var_grads = grads[:len(floating)], grads[len(floating):]
        result = {'output': [numpy.asarray(o) for o in outs],
                  'input grad': {i: g.numpy() for i, g in zip(floating, in_grads) if g is not None},
                  'grad': {v.path: g.numpy() for v, g in zip(trainable, var_grads) if g is not None},
                  'aux': {p: numpy.array(v.numpy()) for p, v in self.vars.items() if not v.trainable}}
        pairs = [(g, v) for g, v in zip(var_grads, trainable) if g is not None]
        if pairs:
            self.keras.optimizers.SGD(learning_rate=lr).apply_gradients(pairs)
        result['after step'] = {v.path: numpy.array(v.numpy()) for v in trainable}
        return result


def _twin_side(twin):
    return (_TorchTwin if _framework(twin) == 'torch' else _KerasTwin)(twin)
