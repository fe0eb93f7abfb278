// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.fledge/**', 'dist/**', 'crds/**', 'deploy/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Product code (controller, CLI, dev stack, sandbox, benchmarks) never depends on the tests.
    files: ['api/**', 'workflows/**', 'activities/**', 'worker/**', 'cli/**', 'dev/**', 'scripts/**', 'bench/**'],
    ignores: ['workflows/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/test/**'], message: 'product code never imports test/; move what it needs to dev/' },
          ],
        },
      ],
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic and import only pure modules.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                '@kubernetes/*',
                'undici',
                '@temporalio/client',
                '@temporalio/worker',
                '../activities/*',
                'pino',
              ],
              message:
                'workflows import only pure modules (api/, @temporalio/workflow) and `import type` of activities',
            },
            {
              group: ['**/test/**'],
              message:
                'workflows import only pure modules (api/, @temporalio/workflow) and `import type` of activities',
            },
          ],
          paths: [],
        },
      ],
    },
  },
);
