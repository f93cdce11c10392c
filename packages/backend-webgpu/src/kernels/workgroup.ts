// WGSL for a tree reduction over one workgroup, shared by reduce, argmax and the fused row
// kernels (softmax, layer / group norm).

/**
 * A workgroup array `<fn>_s` of `size` values of `type`, and `fn <fn>(lid, v) -> type` that
 * combines v over the whole workgroup (`combine` is an expression in `a` and `b`) and returns the
 * result to every invocation. Every invocation must call it (it contains barriers), so calls
 * must sit in uniform control flow.
 */
export function workgroupReduce(fn: string, type: string, size: number, combine: string): string {
  return `var<workgroup> ${fn}_s: array<${type}, ${size}>;
fn ${fn}(lid: u32, v: ${type}) -> ${type} {
  ${fn}_s[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { let a = ${fn}_s[lid]; let b = ${fn}_s[lid + s]; ${fn}_s[lid] = ${combine}; }
    workgroupBarrier();
  }
  let r = ${fn}_s[0];
  workgroupBarrier();
  return r;
}`;
}
