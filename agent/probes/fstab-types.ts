/** The parsed shape of /etc/fstab, shared by the fstab and mounts probes. */

export interface FstabEntry {
  /** 1-based line number in the file. */
  lineNo: number;
  /** The line as written. */
  raw: string;
  /** fs_spec with \040-style escapes decoded: /dev/sda1, UUID=..., LABEL=..., nas01:/export, //srv/share, /srv/a (bind). */
  source: string;
  /** fs_file, decoded; "none" for swap. */
  mountPoint: string;
  /** fs_vfstype: ext4, xfs, nfs, nfs4, cifs, glusterfs, fuse.sshfs, swap, none (bind), auto ... */
  fstype: string;
  /** fs_mntops split on commas ("defaults" kept as written). */
  options: string[];
  dump: number;
  pass: number;
  /** How `source` names the device. */
  sourceKind: "path" | "uuid" | "label" | "partuuid" | "partlabel" | "network" | "bind" | "pseudo";
  /** nfs, nfs4, cifs, smb3, glusterfs, ceph, fuse.* (network-backed), 9p ... */
  network: boolean;
  /** For network sources: the server as written (hostname or IP), else null. */
  server: string | null;
  bind: boolean;
  swap: boolean;
}

export interface FstabParseError {
  lineNo: number;
  raw: string;
  reason: string;
}

export interface Fstab {
  entries: FstabEntry[];
  errors: FstabParseError[];
}
