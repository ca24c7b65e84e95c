// A WebSocket double: tests open, message and close it by hand.
export class FakeSocket {
  static instances: FakeSocket[] = [];
  url: string;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed: number | null = null;

  constructor(url: string) {
    this.url = url;
    FakeSocket.instances.push(this);
  }

  open() {
    this.onopen?.(new Event("open"));
  }

  send(data: unknown) {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(data) }));
  }

  serverClose(code: number, reason = "") {
    this.onclose?.(new CloseEvent("close", { code, reason }));
  }

  close(code = 1000) {
    this.closed = code;
  }

  static reset() {
    FakeSocket.instances = [];
  }

  static last(): FakeSocket {
    return FakeSocket.instances[FakeSocket.instances.length - 1];
  }
}
