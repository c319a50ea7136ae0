/**
 * A controller's API as tests call it, in-process (controller/server.js) or
 * as a process (helpers/controller.ts): requests with the admin token, and
 * simulated hypervisors enrolled through POST /v1/hosts. The target is read at
 * each call, so it can follow a controller that a test restarts.
 */
import { SimulatedHypervisor } from "./simulated-hypervisor.js";

export interface ApiTarget {
  url: string;
  adminToken: string;
}

/** An HTTP answer; `json` is null unless the answer is application/json. */
export interface Answer<T> {
  status: number;
  json: T;
  text: string;
  type: string | null;
}

export type EnrolledHypervisor = SimulatedHypervisor & { token: string };

/**
 * `api` answers whatever the status; `ok` throws unless the status is the one
 * expected; `hypervisor` enrolls and connects a simulated hypervisor, adds it
 * to `connected` (for the caller to disconnect) and resolves once the
 * controller has stored its VMs.
 */
export function controllerApi(target: () => ApiTarget, connected: SimulatedHypervisor[] = []) {
  async function api<T = unknown>(method: string, p: string, body?: unknown): Promise<Answer<T>> {
    const { url, adminToken } = target();
    const res = await fetch(url + p, {
      method, headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const type = res.headers.get("content-type");
    return { status: res.status, text, type, json: (type?.startsWith("application/json") ? JSON.parse(text) : null) as T };
  }

  async function ok<T>(method: string, p: string, body?: unknown, status = 200): Promise<T> {
    const answer = await api<T>(method, p, body);
    if (answer.status !== status) throw new Error(`${method} ${p}: HTTP ${answer.status} ${answer.text}`);
    return answer.json;
  }

  async function hypervisor(host: string, vms: string[], options: ConstructorParameters<typeof SimulatedHypervisor>[2] = {}): Promise<EnrolledHypervisor> {
    const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
    const hv = Object.assign(new SimulatedHypervisor(host, vms, options), { token });
    await hv.connect(target().url, token);
    connected.push(hv);
    // The inventory is stored through the group writer; wait until the VMs are known.
    for (let i = 0; i < 100; i++) {
      const list = await ok<{ name: string; host: string }[]>("GET", "/v1/vms");
      if (vms.every((v) => list.some((d) => d.name === v && d.host === host))) return hv;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`inventory of ${host} not stored`);
  }

  return { api, ok, hypervisor };
}
