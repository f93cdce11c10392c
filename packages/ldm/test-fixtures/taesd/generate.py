#!/usr/bin/env python3
"""Reference outputs of the real TAESD (FLUX.2, taef2_*.pth) for @denoise/ldm's src/taesd/.

    /usr/bin/python3 packages/ldm/test-fixtures/taesd/generate.py

The architecture below is written out from the checkpoint's keys and shapes (printed by
`--keys`); load_state_dict(strict=True) proves that every key is used and every shape matches.
Input: a deterministic 3x32x32 pattern in [0, 1] (the JS test computes the same formula).
Writes reference.bin (float32 little-endian: latent [1, 32, 4, 4], then decoded [1, 3, 32, 32])
and reference.json (shapes, input formula, a few statistics).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = os.path.normpath(os.path.join(HERE, '../../../../../shared/data/taesd'))


class Block(nn.Module):
    """conv-relu-conv-relu-conv plus identity skip, relu; optionally a global-norm branch first."""

    def __init__(self, c, midblock_gn):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1))
        self.pool = nn.Sequential(nn.Conv2d(c, 4 * c, 1, bias=False), nn.GroupNorm(4, 4 * c), nn.ReLU(), nn.Conv2d(4 * c, c, 1, bias=False)) if midblock_gn else None

    def forward(self, x):
        if self.pool is not None:
            x = x + self.pool(x)
        return F.relu(self.conv(x) + x)


class Clamp(nn.Module):
    def forward(self, x):
        return torch.tanh(x / 3) * 3


class Up(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode='nearest')


def encoder(latent, gn):
    conv = lambda i, o, **k: nn.Conv2d(i, o, 3, padding=1, **k)
    layers = [conv(3, 64), Block(64, False)]
    for stage in range(3):
        layers += [conv(64, 64, stride=2, bias=False)] + [Block(64, gn and stage == 2) for _ in range(3)]
    return nn.Sequential(*layers, conv(64, latent))


def decoder(latent, gn):
    conv = lambda i, o, **k: nn.Conv2d(i, o, 3, padding=1, **k)
    layers = [Clamp(), conv(latent, 64), nn.ReLU()]
    for stage in range(3):
        layers += [Block(64, gn and stage == 0) for _ in range(3)] + [Up(), conv(64, 64, bias=False)]
    return nn.Sequential(*layers, Block(64, False), conv(64, 3))


def pattern(h, w):
    y = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    c = torch.arange(3, dtype=torch.float64).view(3, 1, 1)
    return (0.5 + 0.5 * torch.sin(0.37 * x + 0.23 * y * (c + 1) + c)).float().unsqueeze(0)


def main():
    enc_sd = torch.load(os.path.join(WEIGHTS, 'taef2_encoder.pth'), map_location='cpu')
    dec_sd = torch.load(os.path.join(WEIGHTS, 'taef2_decoder.pth'), map_location='cpu')
    if '--keys' in sys.argv:
        for name, sd in (('encoder', enc_sd), ('decoder', dec_sd)):
            for k, v in sd.items():
                print(name, k, tuple(v.shape), v.dtype)
        return
    enc, dec = encoder(32, True), decoder(32, True)
    enc.load_state_dict({k: v.float() for k, v in enc_sd.items()}, strict=True)
    dec.load_state_dict({k: v.float() for k, v in dec_sd.items()}, strict=True)
    with torch.no_grad():
        image = pattern(32, 32)
        latent = enc(image)
        decoded = dec(latent)
    with open(os.path.join(HERE, 'reference.bin'), 'wb') as f:
        f.write(latent.numpy().astype('<f4').tobytes())
        f.write(decoded.numpy().astype('<f4').tobytes())
    mse = float(((decoded.clamp(0, 1) - image) ** 2).mean())
    meta = {
        'input': '0.5 + 0.5 * sin(0.37 * x + 0.23 * y * (c + 1) + c), [1, 3, 32, 32]',
        'latentShape': list(latent.shape),
        'decodedShape': list(decoded.shape),
        'latentMeanAbs': float(latent.abs().mean()),
        'psnr': -10 * math.log10(mse),
    }
    with open(os.path.join(HERE, 'reference.json'), 'w') as f:
        json.dump(meta, f, indent=2)
        f.write('\n')
    print(meta)


if __name__ == '__main__':
    main()
