// Host stat -> WASI filestat, and timestamp changes (to the microsecond: see setTimes).
import * as fs from 'node:fs';
import { Errno, WasiError } from '../abi/errno.js';
import * as clock from '../clock.js';
import { Filetype, type Filestat, type TimeChange } from '../handle.js';

/** The type tests shared by Stats, BigIntStats and Dirent. */
interface TypeTests {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

export function filetypeOf(st: TypeTests): Filetype {
  if (st.isFile()) return Filetype.REGULAR_FILE;
  if (st.isDirectory()) return Filetype.DIRECTORY;
  if (st.isSymbolicLink()) return Filetype.SYMBOLIC_LINK;
  if (st.isCharacterDevice()) return Filetype.CHARACTER_DEVICE;
  if (st.isBlockDevice()) return Filetype.BLOCK_DEVICE;
  if (st.isSocket()) return Filetype.SOCKET_STREAM;
  return Filetype.UNKNOWN; // FIFOs: preview1 has no code for them (wasmtime reports unknown too)
}

export function toFilestat(st: fs.BigIntStats): Filestat {
  return {
    dev: st.dev,
    ino: st.ino,
    filetype: filetypeOf(st),
    nlink: st.nlink,
    size: st.size,
    atim: st.atimeNs,
    mtim: st.mtimeNs,
    ctim: st.ctimeNs,
  };
}

/** witx fstflags -> one TimeChange per timestamp; setting both a time and "now" is EINVAL (as wasmtime). */
export function timeChanges(atim: bigint, mtim: bigint, fstFlags: number): [TimeChange, TimeChange] {
  const one = (value: bigint, set: boolean, now: boolean): TimeChange => {
    if (set && now) throw new WasiError(Errno.INVAL, 'both a time and "now" requested');
    if (set) return value;
    if (now) return 'now';
    return undefined;
  };
  if (fstFlags & ~0xf) throw new WasiError(Errno.INVAL, 'unknown fstflags bits');
  return [one(atim, (fstFlags & 1) !== 0, (fstFlags & 2) !== 0), one(mtim, (fstFlags & 4) !== 0, (fstFlags & 8) !== 0)];
}

const NS_PER_US = 1000n;

/** Seconds as a double that libuv turns back into a time inside the microsecond `ns` falls in: aimed at
 *  its middle, since Node 20 and 22 (their libuv) truncate to whole microseconds, and Node 24 keeps
 *  the double's digits, about 0.24 µs apart at today's dates. */
function secondsForUtimes(ns: bigint): number {
  const us = ns / NS_PER_US;
  const sec = us / 1_000_000n;
  const frac = us % 1_000_000n;
  return Number(sec) + (Number(frac) + 0.5) / 1e6;
}

/**
 * Sets atime/mtime of what `target` names: an fd, or a host path already resolved by the sandbox
 * (`noFollow` applies to paths). Node's utimes family keeps microseconds and cannot leave one time
 * alone (no UTIME_OMIT), so times are set to the microsecond (sub-microsecond digits are dropped)
 * and a time the guest did not ask to change is read and written back, also to the microsecond.
 */
export function setTimes(target: { fd: number } | { path: string; noFollow: boolean }, atim: TimeChange, mtim: TimeChange): void {
  if (atim === undefined && mtim === undefined) return;
  const current =
    'fd' in target
      ? fs.fstatSync(target.fd, { bigint: true })
      : target.noFollow
        ? fs.lstatSync(target.path, { bigint: true })
        : fs.statSync(target.path, { bigint: true });
  const nowNs = clock.now(clock.ClockId.REALTIME);
  const want = (change: TimeChange, kept: bigint): bigint => (change === undefined ? kept : change === 'now' ? nowNs : change);
  const a = want(atim, current.atimeNs);
  const m = want(mtim, current.mtimeNs);
  if (a < 0n || m < 0n) throw new WasiError(Errno.INVAL, 'negative timestamp');
  const as = secondsForUtimes(a);
  const ms = secondsForUtimes(m);
  if ('fd' in target) fs.futimesSync(target.fd, as, ms);
  else if (target.noFollow) fs.lutimesSync(target.path, as, ms);
  else fs.utimesSync(target.path, as, ms);
}
