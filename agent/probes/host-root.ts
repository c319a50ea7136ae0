/**
 * Every host path a probe reads goes through a HostRoot, so a test can point
 * the probes at test/fixtures/hosts/<case>/ instead of /. Commands that read
 * live state (blkid, systemctl, journalctl) are replaced in fixtures by files
 * (see `commandOutput`).
 */
import path from "node:path";

export class HostRoot {
  constructor(
    /** "/" on a real host; a fixture directory in tests. */
    readonly dir: string = "/",
    /** An explicit fstab file (`check --fstab FILE`); default <root>/etc/fstab. */
    private readonly fstabOverride?: string,
  ) {}

  get isLive(): boolean {
    return path.resolve(this.dir) === "/";
  }

  /** Maps an absolute host path into the root. */
  path(hostPath: string): string {
    return path.join(this.dir, hostPath);
  }

  get fstab(): string {
    return this.fstabOverride ?? this.path("/etc/fstab");
  }

  /**
   * In a fixture tree, the recorded output of a command lives in
   * <root>/commands/<name> (e.g. commands/blkid, commands/systemctl-is-system-running);
   * on a live host the probe runs the command. Returns the fixture path or null when live.
   */
  commandOutput(name: string): string | null {
    return this.isLive ? null : this.path(`/commands/${name}`);
  }
}
