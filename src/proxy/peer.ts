/** The client as the listener chain (listener.ts) established it; nothing after the chain asks the socket. */
export interface Peer {
  /** The client's address (the socket's peer; with PROXY protocol, the one the header carries). */
  readonly address: string;
}
