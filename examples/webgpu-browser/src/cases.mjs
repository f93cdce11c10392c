// The conformance cases the page runs: a cross-section of core's suite (elementwise, matmul,
// conv, reductions, softmax / norms / attention), small enough for a software adapter. Names are
// those of `conformanceCases` in @denoise/core/testing; the page reports an unknown name as a
// failure, so a renamed case cannot silently drop out.
export const BROWSER_CASES = [
  'unary/exp',
  'unary/tanh',
  'binary/add-broadcast',
  'binary/mul-broadcast',
  'matmul/NN-5x7-7x3',
  'matmul/TT-2x7x5-2x3x7',
  'matmul/NN-33x70-70x65',
  'conv2d/3x3-pad1',
  'conv2d/stride2-asym-pad',
  'conv2d/groups2',
  'reduce/sum-axes',
  'reduce/mean',
  'reduce/max',
  'softmax/last',
  'groupNorm/affine',
  'attention/plain',
  'attention/causal',
];
