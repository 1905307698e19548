// Channels: messages of bytes plus handles from a send end to a receive end through a bounded buffer.
// guest-sdk/ABI.md "Channels".
import { NONBLOCK, out, ww_chan_close, ww_chan_create, ww_chan_recv, ww_chan_send } from "./abi";
import { Errno, Result } from "./errors";
import { Handle, wwErr } from "./handle";
import { Executor, Process } from "./process";
import { Store } from "./store";

/** The most bytes one message may carry (1 MiB) and the most handles (64). */
export const MAX_MESSAGE_BYTES: i32 = 1 << 20;
export const MAX_MESSAGE_HANDLES: i32 = 64;

/** A new channel: its two ends. */
export class Channel {
  constructor(readonly sender: Sender, readonly receiver: Receiver) {}

  /** A channel buffering at most `capacity` messages (0: the host's default, 16; at most 1024).
   * ENOBUFS: this process already has 16384 channels open. */
  static create(capacity: i32 = 0): Result<Channel> {
    const errno = ww_chan_create(capacity, out, out + 4);
    if (errno != 0) return wwErr<Channel>(errno, "chan_create");
    return Result.ok(new Channel(new Sender(load<i32>(out)), new Receiver(load<i32>(out, 4))));
  }
}

/** One received message: its bytes and the handles it carried (now in this process's table). */
export class Message {
  constructor(readonly data: Uint8Array, readonly handles: i32[]) {}

  /** The bytes as UTF-8 text. */
  text(): string {
    return String.UTF8.decodeUnsafe(this.data.dataStart, this.data.length);
  }

  /** The i-th handle as a Process (or Sender, Receiver, ... : typed views of the same number). */
  process(i: i32): Process {
    return new Process(this.handles[i]);
  }
  sender(i: i32): Sender {
    return new Sender(this.handles[i]);
  }
  receiver(i: i32): Receiver {
    return new Receiver(this.handles[i]);
  }
  executor(i: i32): Executor {
    return new Executor(this.handles[i]);
  }
  store(i: i32): Store {
    return new Store(this.handles[i]);
  }
}

/** The send end of a channel. */
export class Sender extends Handle {
  /** Queues a message; blocks while the buffer is full. EPIPE: the receive end is closed. ENOBUFS:
   * this process's messages not yet received would exceed 64 MiB (all channels). The handles are
   * moved to the receiver (on success they leave this process; `forget()` is called). */
  send(data: Uint8Array, handles: Handle[] = []): Errno {
    return sendWith(this.h, 0, data, handles);
  }

  /** As send, but EAGAIN instead of blocking when the buffer is full (backpressure). */
  trySend(data: Uint8Array, handles: Handle[] = []): Errno {
    return sendWith(this.h, NONBLOCK, data, handles);
  }

  /** Sends `text` as UTF-8. */
  sendText(text: string, handles: Handle[] = []): Errno {
    return sendWith(this.h, 0, Uint8Array.wrap(String.UTF8.encode(text)), handles);
  }

  /** Closes the send end for every holder: receivers get what is queued, then EPIPE. */
  close(): Errno {
    return ww_chan_close(this.h);
  }

  dup(): Result<Sender> {
    const n = this.dupNumber();
    if (!n.ok) return Result.err<Sender>(n.errno, n.what, n.detail);
    return Result.ok(new Sender(n.value));
  }
}

/** The receive end of a channel. */
export class Receiver extends Handle {
  /** The next message; blocks while the buffer is empty. EPIPE: empty and the send end is closed. */
  recv(): Result<Message> {
    return recvWith(this.h, 0);
  }

  /** The next message if one is queued, else EAGAIN (EPIPE: empty and closed). Never blocks. */
  tryRecv(): Result<Message> {
    return recvWith(this.h, NONBLOCK);
  }

  /** Closes the receive end for every holder: queued messages are discarded, senders get EPIPE. */
  close(): Errno {
    return ww_chan_close(this.h);
  }

  dup(): Result<Receiver> {
    const n = this.dupNumber();
    if (!n.ok) return Result.err<Receiver>(n.errno, n.what, n.detail);
    return Result.ok(new Receiver(n.value));
  }
}

function sendWith(h: i32, flags: u32, data: Uint8Array, handles: Handle[]): Errno {
  const numbers = new Uint32Array(handles.length);
  for (let i = 0; i < handles.length; i++) numbers[i] = <u32>handles[i].handle;
  const errno = ww_chan_send(h, flags, data.dataStart, <u32>data.length, numbers.dataStart, <u32>numbers.length);
  if (errno == 0) for (let i = 0; i < handles.length; i++) handles[i].forget();
  return errno;
}

// Messages are received into a scratch buffer that grows to the largest message seen, then copied
// out at their exact size; a message larger than the buffer stays queued and is asked for again.
// @ts-ignore: decorator
@lazy let recvBuffer = new Uint8Array(0);
// @ts-ignore: decorator
@lazy const recvHandles = new Uint32Array(MAX_MESSAGE_HANDLES);

function recvWith(h: i32, flags: u32): Result<Message> {
  if (recvBuffer.length == 0) recvBuffer = new Uint8Array(64 * 1024);
  while (true) {
    const errno = ww_chan_recv(
      h, flags, recvBuffer.dataStart, <u32>recvBuffer.length, out,
      recvHandles.dataStart, <u32>recvHandles.length, out + 4,
    );
    if (errno == Errno.MSGSIZE) {
      const needed = <i32>load<u32>(out);
      if (needed > recvBuffer.length) {
        recvBuffer = new Uint8Array(needed);
        continue;
      }
      // More handles than the ABI allows in one message: the host and this SDK disagree.
      return wwErr<Message>(errno, "chan_recv");
    }
    if (errno != 0) return wwErr<Message>(errno, "chan_recv");
    const len = <i32>load<u32>(out);
    const count = <i32>load<u32>(out, 4);
    const data = new Uint8Array(len);
    memory.copy(data.dataStart, recvBuffer.dataStart, len);
    const handles = new Array<i32>(count);
    for (let i = 0; i < count; i++) handles[i] = <i32>recvHandles[i];
    return Result.ok(new Message(data, handles));
  }
  return Result.err<Message>(Errno.IO, "chan_recv"); // not reached
}
