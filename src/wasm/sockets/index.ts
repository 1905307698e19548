// Pre-opened sockets for guest processes. See README.md.
export { Listener, ListenError, openListeners, parseListenAddress, type ListenAddress } from './listen.js';
export { ProcessSockets } from './owner.js';
export { GuestSockets } from './guest.js';
export { NAMESPACE, type SocketsInit } from './protocol.js';
