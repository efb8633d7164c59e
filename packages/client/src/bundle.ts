/**
 * Bundling a type module for deploy: one self-contained CommonJS script, as the coordinator's
 * loader expects. esbuild is imported on first use, so `import '@lambdastore/client'` stays light
 * for callers that never deploy.
 */
import { dirname, resolve } from 'node:path';
import { LambdaStoreError } from '@lambdastore/proto';

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
