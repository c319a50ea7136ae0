/**
 * Every host path a probe reads goes through a HostRoot, so a test can point
 * the probes at test/fixtures/hosts/<case>/ instead of /. What a probe learns
 * from commands (blkid, systemctl, journalctl) goes through the context's
 * `commands` instead (commands.ts), which for a host tree answers from the
 * tree's recorded output.
 */
import path from "node:path";

export class HostRoot {
  constructor(
    /** "/" on a real host; a fixture directory in tests. */
    readonly dir: string = "/",
    /** An explicit fstab file (`check --fstab FILE`); default <root>/etc/fstab. */
    private readonly fstabOverride?: string,
  ) {}

  /** Maps an absolute host path into the root. */
  path(hostPath: string): string {
    return path.join(this.dir, hostPath);
  }

  get fstab(): string {
    return this.fstabOverride ?? this.path("/etc/fstab");
  }
}
