// Lint: typescript-eslint's recommended rules without type information (fast on 2 cores) and
// berth's import-boundary rule (scripts/lint/boundaries.mjs). `npm test` runs it first.
import tseslint from 'typescript-eslint';
import berth from './scripts/lint/boundaries.mjs';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**', 'bench/results/**', 'test/fixtures/lint/**'] },
  {
    files: ['src/**/*.ts', 'src/**/*.cts', 'test/**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      // Checked by tsc (noUnusedLocals) already; `_`-prefixed parameters are deliberate.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The CommonJS launcher loads the bundle with require() on purpose (see its comment).
    files: ['src/**/*.cts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.cts'],
    plugins: { berth },
    rules: { 'berth/boundaries': 'error' },
  },
);
