import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "test/guest/cache/**", "test/hostvm/cache/**"],
    // Integration tests share one libvirtd; running files one at a time keeps
    // their timing assertions (events within 1 s) honest on a 2-core machine.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
