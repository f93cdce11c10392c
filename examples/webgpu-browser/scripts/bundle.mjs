// Bundles the page (src/page.mjs with @denoise/core and @denoise/backend-webgpu, from their built
// dist) into one ES module, dist/page.js. The test calls bundlePage() itself; `npm run build`
// runs this file.
//
//   node scripts/bundle.mjs

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function bundlePage() {
  const outfile = join(root, 'dist', 'page.js');
  await build({
    entryPoints: [join(root, 'src', 'page.mjs')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // The backend imports Node's `webgpu` package only when navigator.gpu is missing, and core
    // reads files with node:fs only in its save helpers: neither runs in a page.
    external: ['webgpu', 'node:*'],
    logLevel: 'warning',
    // core's testing entry imports a shared chunk of plain definitions for its side effects,
    // which core's "sideEffects": false rightly says it has none of.
    logOverride: { 'ignored-bare-import': 'silent' },
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${await bundlePage()}`);
}
