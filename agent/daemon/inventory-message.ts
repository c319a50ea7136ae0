/**
 * Inventory entries as the protocol carries them. libvirt sets no limit on a
 * domain's disks; one entry carries at most MAX_DISKS_PER_DOMAIN, in the
 * domain XML's order, and says how many more there were (`disksTruncated`),
 * so the VM is still reported rather than refused.
 */
import { MAX_DISKS_PER_DOMAIN, type Domain } from "../../shared/protocol/messages.js";
import type { DomainInventory } from "../inventory/domains.js";

export function toInventoryDomain(domain: DomainInventory): Domain {
  if (domain.disks.length <= MAX_DISKS_PER_DOMAIN) return domain;
  return { ...domain, disks: domain.disks.slice(0, MAX_DISKS_PER_DOMAIN), disksTruncated: domain.disks.length - MAX_DISKS_PER_DOMAIN };
}
