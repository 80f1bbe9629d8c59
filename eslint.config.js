import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Numbers (ports, counts, sizes, durations) read fine in messages; `never` is the value a runtime
// check of already-typed input refuses, and the refusal names it. Every option is spelled out:
// an options object starts from the rule's lenient defaults, not from strictTypeChecked's.
const templateExpressions = {
  allowNumber: true,
  allowNever: true,
  allowAny: false,
  allowBoolean: false,
  allowNullish: false,
  allowRegExp: false,
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".demo/", "bench/results/"] },
  js.configs.recommended,
  {
    files: ["**/*.ts"],
    extends: [...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/restrict-template-expressions": ["error", templateExpressions],
      // `() => res.end()` callbacks, and `return json(res, …)` as the early exit of a void function.
      "@typescript-eslint/no-confusing-void-expression": [
        "error",
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
      // `while (running)` loops end from a callback, which narrowing cannot see.
      "@typescript-eslint/no-unnecessary-condition": [
        "error",
        { allowConstantLoopConditions: true },
      ],
      // Node types a TLS server's sockets as net.Socket; a cast is how its TLSSocket is reached.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      // Header records and process.env are plain records: deleting a key is how one is removed.
      "@typescript-eslint/no-dynamic-delete": "off",
    },
  },
  {
    files: ["test/**/*.ts", "src/**/*.test.ts", "src/**/test-support.ts"],
    rules: {
      // A wrong `!` fails the test on that line; noUncheckedIndexedAccess makes fixtures need it.
      "@typescript-eslint/no-non-null-assertion": "off",
      // vitest's asymmetric matchers (expect.any, expect.stringContaining) are typed `any`.
      "@typescript-eslint/no-unsafe-assignment": "off",
      // Teardown guards (`await app?.close()`) cover a beforeAll that threw before assigning.
      "@typescript-eslint/no-unnecessary-condition": "off",
      // Assertion messages and fixtures may print a missing value as "undefined": the test fails.
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { ...templateExpressions, allowNullish: true },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        URL: "readonly",
        Buffer: "readonly",
      },
    },
  },
);
