/**
 * Bundling a type module for deploy: one self-contained CommonJS script, as the coordinator's
 * loader expects. esbuild is imported on first use, so `import '@lambdastore/client'` stays light
 * for callers that never deploy.
 */
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LambdaStoreError } from '@lambdastore/proto';

/**
 * The node_modules folders above this package that hold `@lambdastore/sdk`: where a module that
 * lives outside any project with the SDK installed (a file in /tmp, say) finds it. esbuild tries
 * them only after the module's own folders.
 */
async function sdkNodePaths(): Promise<string[]> {
  const found: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const nodeModules = join(dir, 'node_modules');
    if (await access(join(nodeModules, '@lambdastore', 'sdk')).then(() => true, () => false)) found.push(nodeModules);
    const up = dirname(dir);
    if (up === dir) return found;
    dir = up;
  }
}

export async function bundleFile(path: string): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    throw new LambdaStoreError('INTERNAL', `esbuild is not available: ${(err as Error).message}`, { retryable: false, cause: err });
  }
  try {
    const out = await esbuild.build({
      entryPoints: [path],
      // Paths in the bundle's comments are relative to the module's folder, so the same module
      // deployed from anywhere is byte-identical (and a redeploy is recognised as unchanged).
      absWorkingDir: dirname(resolve(path)),
      nodePaths: await sdkNodePaths(),
      bundle: true,
      format: 'cjs',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      target: 'es2022',
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
      charset: 'utf8',
    });
    const file = out.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output');
    return file.text;
  } catch (err) {
    throw new LambdaStoreError('DEPLOY_INVALID', buildErrorMessage(err), { cause: err });
  }
}

interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number } | null;
}

/** esbuild's errors as `file:line:col: text`, one per line (its own message starts "Build failed with N errors"). */
function buildErrorMessage(err: unknown): string {
  const errors = (err as { errors?: EsbuildMessage[] }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return err instanceof Error ? err.message : String(err);
  return errors
    .map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ${e.text}` : e.text))
    .join('\n');
}
