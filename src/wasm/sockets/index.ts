// Pre-opened sockets for guest processes (issue 5, section 3). See README.md.
export { Listener, ListenError, openListeners, parseListenAddress, type ListenAddress } from './listen.js';
export { ProcessSockets, SocketCallError } from './owner.js';
export { GuestSockets, type HostCall } from './guest.js';
export { NAMESPACE, type SocketsInit } from './protocol.js';
