/**
 * A full garbage collection in another Node process, through its inspector:
 * start it with NODE_OPTIONS=--inspect=127.0.0.1:0 and pass its log (where
 * Node prints "Debugger listening on ws://..."). Memory a test says was let
 * go is then measured after V8 had every chance to give it back, not whenever
 * V8 happened to collect.
 */
import WebSocket from "ws";

export const INSPECT_OPTIONS = "--inspect=127.0.0.1:0";

export async function collectGarbage(log: string): Promise<void> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(log)?.[1];
  if (!url) throw new Error("no inspector URL in the log: start the process with NODE_OPTIONS=--inspect=127.0.0.1:0");
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let id = 0;
  const call = (method: string) => new Promise<void>((resolve) => {
    const mine = ++id;
    const onMessage = (data: WebSocket.RawData) => {
      if ((JSON.parse(data.toString()) as { id?: number }).id !== mine) return;
      ws.off("message", onMessage);
      resolve();
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify({ id: mine, method }));
  });
  await call("HeapProfiler.enable");
  // Twice: objects with finalizers (sockets' handles) go in the second.
  await call("HeapProfiler.collectGarbage");
  await call("HeapProfiler.collectGarbage");
  ws.close();
}
