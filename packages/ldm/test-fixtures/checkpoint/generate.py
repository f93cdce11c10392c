#!/usr/bin/env python3
"""Fixtures for @denoise/ldm's PyTorch checkpoint reader (src/checkpoint/).

Run with the Debian CPU build of PyTorch (apt-get install python3-torch):
    /usr/bin/python3 packages/ldm/test-fixtures/checkpoint/generate.py

Writes, next to this script:
  dtypes.pth       every storage dtype a state dict uses, 0-d and empty tensors
  views.pth        non-contiguous views, storage offsets, stride-0 expands, shared storage
  lightning.ckpt   a Lightning-style {"state_dict": ..., "epoch": ..., ...} with nn.Parameters
  module.pth       model.state_dict() of a tiny conv net (OrderedDict with _metadata)
  expected.json    every tensor above as {dtype, shape, values} (int64 as decimal strings)
  evil_*.pth       malicious pickles: each must be refused by the reader and never run
The evil payloads would only write a marker file (/tmp/denoise-ldm-pwned-*) if Python ever
unpickled them; the JS reader must refuse them and the marker must never appear.
"""
import json
import os
import pickle
import subprocess
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def out(name):
    return os.path.join(HERE, name)


expected = {}


def finite(v):
    # JSON has no infinities or NaN: those go as the strings JS's Number() reads back.
    if v != v:
        return 'NaN'
    if v in (float('inf'), float('-inf')):
        return 'Infinity' if v > 0 else '-Infinity'
    return v


def record(prefix, tensors):
    for k, t in tensors.items():
        t = t.detach()
        dt = str(t.dtype).replace('torch.', '')
        if t.dtype == torch.int64:
            values = [str(int(v)) for v in t.reshape(-1).tolist()]
        elif t.dtype == torch.bool:
            values = [bool(v) for v in t.reshape(-1).tolist()]
        else:
            # float16 / bfloat16 values are exact in float64
            values = [finite(float(v)) for v in t.to(torch.float64).reshape(-1).tolist()] if t.is_floating_point() else [int(v) for v in t.reshape(-1).tolist()]
        expected[f'{prefix}/{k}'] = {'dtype': dt, 'shape': list(t.shape), 'values': values}


# ---------------------------------------------------------------- dtypes
base = torch.randn(3, 4)
dtypes = OrderedDict([
    ('f32', base.clone()),
    ('f16', (base * 100).to(torch.float16)),
    ('bf16', (base * 100).to(torch.bfloat16)),
    ('f64', base.to(torch.float64) / 3),
    ('i64', torch.tensor([0, -1, 2**40 + 7, -(2**52), 123456789012], dtype=torch.int64)),
    ('i32', torch.tensor([-2**31, 2**31 - 1, 0, 5], dtype=torch.int32)),
    ('i16', torch.tensor([-32768, 32767, 1], dtype=torch.int16)),
    ('i8', torch.tensor([-128, 127, 0], dtype=torch.int8)),
    ('u8', torch.tensor([0, 255, 7], dtype=torch.uint8)),
    ('bool', torch.tensor([True, False, True])),
    ('scalar', torch.tensor(2.5)),
    ('empty', torch.zeros(0, 3)),
    ('f16_special', torch.tensor([65504.0, -0.0, 6.0e-8, float('inf'), 1.0 / 3], dtype=torch.float16)),
])
torch.save(dtypes, out('dtypes.pth'))
record('dtypes', dtypes)

# ---------------------------------------------------------------- views and shared storage
grid = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = OrderedDict([
    ('base', grid),
    ('transposed', grid.t()),                 # strides (1, 6)
    ('sliced', grid[1:3, ::2]),               # storage offset 6, strides (6, 2)
    ('reshaped', grid.view(6, 4)),            # shares the storage of 'base'
    ('column', grid[:, 5]),                   # offset 5, stride 6
    ('expanded', torch.tensor([1.5, -2.0]).unsqueeze(0).expand(3, 2)),  # stride 0
    ('half_view', torch.arange(12, dtype=torch.float16).reshape(3, 4)[:, 1:3]),
])
torch.save(views, out('views.pth'))
record('views', views)

# ---------------------------------------------------------------- a module's state dict
net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.GroupNorm(1, 3), torch.nn.Conv2d(3, 1, 1, bias=False))
sd = net.state_dict()
assert hasattr(sd, '_metadata')
torch.save(sd, out('module.pth'))
record('module', sd)

# The same archive re-zipped with deflate (torch writes stored entries; hand-made archives may not).
import zipfile
with zipfile.ZipFile(out('module.pth')) as src, zipfile.ZipFile(out('module_deflated.pth'), 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))

# ---------------------------------------------------------------- Lightning-style checkpoint
params = OrderedDict((f'model.{k}', torch.nn.Parameter(v.clone())) for k, v in sd.items())
ckpt = {
    'epoch': 3,
    'global_step': 1234,
    'pytorch-lightning_version': '1.9.0',
    'state_dict': params,
    'hparams': {'lr': 1e-4, 'betas': (0.9, 0.999), 'name': 'tiny', 'flags': [True, None]},
    'big': 2**70,
    'blob': b'\x00\x01binary',
}
torch.save(ckpt, out('lightning.ckpt'))
record('lightning', params)


# ---------------------------------------------------------------- malicious pickles
class EvilSystem:
    def __reduce__(self):
        return (os.system, ('touch /tmp/denoise-ldm-pwned-system',))


class EvilEval:
    def __reduce__(self):
        return (eval, ("open('/tmp/denoise-ldm-pwned-eval', 'w').write('x')",))


class EvilSubprocess:
    def __reduce__(self):
        return (subprocess.Popen, (['touch', '/tmp/denoise-ldm-pwned-subprocess'],))


torch.save(OrderedDict([('w', torch.ones(2)), ('payload', EvilSystem())]), out('evil_system.pth'))
torch.save({'state_dict': OrderedDict([('w', torch.ones(2))]), 'hparams': {'x': EvilEval()}}, out('evil_eval.pth'))
torch.save([torch.zeros(1), EvilSubprocess()], out('evil_subprocess.pth'))

# torch.save writes protocol 2, which names globals the Python 2 way (__builtin__.eval,
# commands.Popen). A bare pickle (not a zip) at protocol 4 names subprocess.Popen through
# STACK_GLOBAL.
with open(out('evil_raw.pkl'), 'wb') as f:
    pickle.dump({'w': EvilSubprocess()}, f, protocol=4)

with open(out('expected.json'), 'w') as f:
    json.dump(expected, f, indent=None, separators=(',', ':'))
    f.write('\n')

for name in sorted(os.listdir(HERE)):
    if not name.endswith('.py'):
        print(f'{os.path.getsize(out(name)):8d}  {name}')
