// WASI preview1 errno values (witx `errno`, u16) and the error type the host
// throws internally. The ABI layer turns a thrown WasiError into its errno as
// the import's return value; nothing else escapes into the guest.

export const enum Errno {
  SUCCESS = 0,
  TOOBIG = 1,
  ACCES = 2,
  ADDRINUSE = 3,
  ADDRNOTAVAIL = 4,
  AFNOSUPPORT = 5,
  AGAIN = 6,
  ALREADY = 7,
  BADF = 8,
  BADMSG = 9,
  BUSY = 10,
  CANCELED = 11,
  CHILD = 12,
  CONNABORTED = 13,
  CONNREFUSED = 14,
  CONNRESET = 15,
  DEADLK = 16,
  DESTADDRREQ = 17,
  DOM = 18,
  DQUOT = 19,
  EXIST = 20,
  FAULT = 21,
  FBIG = 22,
  HOSTUNREACH = 23,
  IDRM = 24,
  ILSEQ = 25,
  INPROGRESS = 26,
  INTR = 27,
  INVAL = 28,
  IO = 29,
  ISCONN = 30,
  ISDIR = 31,
  LOOP = 32,
  MFILE = 33,
  MLINK = 34,
  MSGSIZE = 35,
  MULTIHOP = 36,
  NAMETOOLONG = 37,
  NETDOWN = 38,
  NETRESET = 39,
  NETUNREACH = 40,
  NFILE = 41,
  NOBUFS = 42,
  NODEV = 43,
  NOENT = 44,
  NOEXEC = 45,
  NOLCK = 46,
  NOLINK = 47,
  NOMEM = 48,
  NOMSG = 49,
  NOPROTOOPT = 50,
  NOSPC = 51,
  NOSYS = 52,
  NOTCONN = 53,
  NOTDIR = 54,
  NOTEMPTY = 55,
  NOTRECOVERABLE = 56,
  NOTSOCK = 57,
  NOTSUP = 58,
  NOTTY = 59,
  NXIO = 60,
  OVERFLOW = 61,
  OWNERDEAD = 62,
  PERM = 63,
  PIPE = 64,
  PROTO = 65,
  PROTONOSUPPORT = 66,
  PROTOTYPE = 67,
  RANGE = 68,
  ROFS = 69,
  SPIPE = 70,
  SRCH = 71,
  STALE = 72,
  TIMEDOUT = 73,
  TXTBSY = 74,
  XDEV = 75,
  NOTCAPABLE = 76,
}

/** A failure with a WASI errno; thrown anywhere below the ABI layer. */
export class WasiError extends Error {
  constructor(
    readonly errno: Errno,
    detail?: string,
  ) {
    super(detail ?? `WASI errno ${errno}`);
    this.name = 'WasiError';
  }
}

/**
 * POSIX error names -> errno: every errno WASI defines under its POSIX name (E + its name; E2BIG for
 * TOOBIG), and the Linux names that mean the same thing. Built from the enum, so none is missing.
 */
export const POSIX_TO_WASI: ReadonlyMap<string, Errno> = (() => {
  const names: [string, Errno][] = [
    ['E2BIG', Errno.TOOBIG], ['EACCES', Errno.ACCES], ['EADDRINUSE', Errno.ADDRINUSE],
    ['EADDRNOTAVAIL', Errno.ADDRNOTAVAIL], ['EAFNOSUPPORT', Errno.AFNOSUPPORT], ['EAGAIN', Errno.AGAIN],
    ['EALREADY', Errno.ALREADY], ['EBADF', Errno.BADF], ['EBADMSG', Errno.BADMSG], ['EBUSY', Errno.BUSY],
    ['ECANCELED', Errno.CANCELED], ['ECHILD', Errno.CHILD], ['ECONNABORTED', Errno.CONNABORTED],
    ['ECONNREFUSED', Errno.CONNREFUSED], ['ECONNRESET', Errno.CONNRESET], ['EDEADLK', Errno.DEADLK],
    ['EDESTADDRREQ', Errno.DESTADDRREQ], ['EDOM', Errno.DOM], ['EDQUOT', Errno.DQUOT], ['EEXIST', Errno.EXIST],
    ['EFAULT', Errno.FAULT], ['EFBIG', Errno.FBIG], ['EHOSTUNREACH', Errno.HOSTUNREACH], ['EIDRM', Errno.IDRM],
    ['EILSEQ', Errno.ILSEQ], ['EINPROGRESS', Errno.INPROGRESS], ['EINTR', Errno.INTR], ['EINVAL', Errno.INVAL],
    ['EIO', Errno.IO], ['EISCONN', Errno.ISCONN], ['EISDIR', Errno.ISDIR], ['ELOOP', Errno.LOOP],
    ['EMFILE', Errno.MFILE], ['EMLINK', Errno.MLINK], ['EMSGSIZE', Errno.MSGSIZE], ['EMULTIHOP', Errno.MULTIHOP],
    ['ENAMETOOLONG', Errno.NAMETOOLONG], ['ENETDOWN', Errno.NETDOWN], ['ENETRESET', Errno.NETRESET],
    ['ENETUNREACH', Errno.NETUNREACH], ['ENFILE', Errno.NFILE], ['ENOBUFS', Errno.NOBUFS], ['ENODEV', Errno.NODEV],
    ['ENOENT', Errno.NOENT], ['ENOEXEC', Errno.NOEXEC], ['ENOLCK', Errno.NOLCK], ['ENOLINK', Errno.NOLINK],
    ['ENOMEM', Errno.NOMEM], ['ENOMSG', Errno.NOMSG], ['ENOPROTOOPT', Errno.NOPROTOOPT], ['ENOSPC', Errno.NOSPC],
    ['ENOSYS', Errno.NOSYS], ['ENOTCONN', Errno.NOTCONN], ['ENOTDIR', Errno.NOTDIR], ['ENOTEMPTY', Errno.NOTEMPTY],
    ['ENOTRECOVERABLE', Errno.NOTRECOVERABLE], ['ENOTSOCK', Errno.NOTSOCK], ['ENOTSUP', Errno.NOTSUP],
    ['ENOTTY', Errno.NOTTY], ['ENXIO', Errno.NXIO], ['EOVERFLOW', Errno.OVERFLOW], ['EOWNERDEAD', Errno.OWNERDEAD],
    ['EPERM', Errno.PERM], ['EPIPE', Errno.PIPE], ['EPROTO', Errno.PROTO], ['EPROTONOSUPPORT', Errno.PROTONOSUPPORT],
    ['EPROTOTYPE', Errno.PROTOTYPE], ['ERANGE', Errno.RANGE], ['EROFS', Errno.ROFS], ['ESPIPE', Errno.SPIPE],
    ['ESRCH', Errno.SRCH], ['ESTALE', Errno.STALE], ['ETIMEDOUT', Errno.TIMEDOUT], ['ETXTBSY', Errno.TXTBSY],
    ['EXDEV', Errno.XDEV],
    // Linux names for the same conditions.
    ['EWOULDBLOCK', Errno.AGAIN], ['EOPNOTSUPP', Errno.NOTSUP], ['EDEADLOCK', Errno.DEADLK], ['EBADFD', Errno.BADF],
    ['ESHUTDOWN', Errno.PIPE],
  ];
  return new Map(names);
})();

/** A POSIX error name (EACCES, ...), as opposed to Node's own ERR_* codes. */
const POSIX_NAME = /^E[A-Z0-9]+$/;

/**
 * The one conversion of a host failure to the errno the guest gets, or undefined when no errno
 * describes it. A WasiError carries its own. An error with a POSIX `code` (Node's fs and socket
 * errors, a stdio endpoint that reports one) gives that code's errno; a host OS error WASI has no
 * number for (ENOMEDIUM, EUCLEAN, ...) is EIO, which is what it is. Anything else (a TypeError,
 * Node's ERR_* argument errors) is a bug in the host: undefined, so that it is not passed off as an
 * I/O error.
 */
export function errnoOf(err: unknown): Errno | undefined {
  if (err instanceof WasiError) return err.errno;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !POSIX_NAME.test(code)) return undefined;
  return POSIX_TO_WASI.get(code) ?? Errno.IO;
}
