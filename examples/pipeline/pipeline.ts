// Map/reduce word count whose stages are processes connected by channels (AssemblyScript, guest SDK).
//   ww run --dir examples/wordcount/data::/data examples/pipeline/pipeline.wasm -- /data [MAPPERS [CHUNK_BYTES]]
// Prints what examples/wordcount prints (lines, words, bytes per file, then the total).
//
//   source (this process) --work--> mapper x MAPPERS --counts--> reducer --report--> source
//
// The source reads the files of the pre-opened directory and cuts them into chunks (default 64 KiB);
// every mapper takes chunks from the one shared work channel (each message goes to one of them) and
// counts lines, words and bytes; the reducer merges the counts per file (a word cut by a chunk border
// is counted once) and sends the report back, a line per message. Channels close in order: the
// source closes the work channel, so mappers end; when the last mapper ends, the counts channel is
// closed for the reducer, which reports and ends, which closes the report channel for the source.
import {
  args, Channel, Errno, errnoText, eprintln, Executor, exit, initialHandle, isFile, listDir, print, Process,
  readFile, Receiver, Sender, SpawnOptions,
} from "../../guest-sdk/assembly";

const argv = args();
const role = argv.length > 1 ? argv[1] : "";
if (role == "map") mapper();
else if (role == "reduce") reducer();
else source();

function source(): void {
  if (argv.length < 2 || argv.length > 4) {
    eprintln("usage: pipeline DIR [MAPPERS [CHUNK_BYTES]]");
    exit(2);
  }
  const dir = argv[1];
  const mappers = argv.length > 2 ? I32.parseInt(argv[2]) : 2;
  const chunkBytes = argv.length > 3 ? I32.parseInt(argv[3]) : 64 * 1024;
  // A chunk travels in one message (at most 1 MiB) together with its path.
  if (mappers < 1 || mappers > 64 || chunkBytes < 1 || chunkBytes > 1_000_000) {
    eprintln("pipeline: MAPPERS must be 1-64 and CHUNK_BYTES 1-1000000");
    exit(2);
  }
  const executor = Executor.initial();
  if (executor === null) {
    eprintln("pipeline: no Executor handle; run it with `ww run` (a node gives one)");
    exit(1);
    return;
  }
  const listing = listDir(dir);
  if (!listing.ok) {
    eprintln("pipeline: cannot list " + dir + ": " + listing.what + " (is it pre-opened with --dir?)");
    exit(1);
  }

  const work = Channel.create(4).value;   // small buffer: the source waits for the mappers (backpressure)
  const counts = Channel.create().value;
  const report = Channel.create().value;
  const stages = new Array<Process>(0);
  stages.push(executor.spawnSelf({ argv: ["pipeline", "reduce"], handles: [counts.receiver, report.sender], link: true } as SpawnOptions).value);
  for (let i = 0; i < mappers; i++) {
    stages.push(executor.spawnSelf({
      argv: ["pipeline", "map"],
      handles: [work.receiver.dup().value, counts.sender.dup().value],
      link: true,
    } as SpawnOptions).value);
  }
  // Keep no ends the stages need to see closed.
  work.receiver.drop();
  counts.sender.drop();

  const entries = listing.value;
  for (let f = 0; f < entries.length; f++) {
    const name = entries[f].name;
    if (name.startsWith(".")) continue; // hidden files, as wordcount
    const path = dir + "/" + name;
    if (!isFile(path)) continue;
    const data = readFile(path).value;
    const chunks = max(1, (data.length + chunkBytes - 1) / chunkBytes);
    for (let c = 0; c < chunks; c++) {
      const piece = data.subarray(c * chunkBytes, min(data.length, (c + 1) * chunkBytes));
      const errno = work.sender.send(encodeChunk(path, f, c, chunks, piece));
      if (errno != 0) die("send work", errno);
    }
  }
  work.sender.close();

  // One message per line of the report, until the reducer ends (its send end closes with it).
  while (true) {
    const line = report.receiver.recv();
    if (line.errno == Errno.PIPE) break;
    print(line.value.text());
  }
  for (let i = 0; i < stages.length; i++) {
    const status = stages[i].wait().value;
    if (!status.normal) die("a stage ended with " + status.reason, Errno.IO);
  }
}

// Work message: u32 file index, u32 chunk index, u32 chunk count, u32 path length, path, data.
function encodeChunk(path: string, file: i32, chunk: i32, chunks: i32, data: Uint8Array): Uint8Array {
  const pathBytes = Uint8Array.wrap(String.UTF8.encode(path));
  const out = new Uint8Array(16 + pathBytes.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, file, true);
  view.setUint32(4, chunk, true);
  view.setUint32(8, chunks, true);
  view.setUint32(12, pathBytes.length, true);
  out.set(pathBytes, 16);
  out.set(data, 16 + pathBytes.length);
  return out;
}

function mapper(): void {
  const work = new Receiver(initialHandle(0).value);
  const counts = new Sender(initialHandle(1).value);
  while (true) {
    const message = work.recv();
    if (message.errno == Errno.PIPE) break; // the source is done and the queue is empty
    const bytes = message.value.data;
    const view = new DataView(bytes.buffer);
    const pathLen = view.getUint32(12, true);
    const data = bytes.subarray(16 + pathLen);
    let lines: u64 = 0, words: u64 = 0;
    let inWord = false;
    for (let i = 0; i < data.length; i++) {
      const ch = data[i];
      if (ch == 10) lines++;
      if (isSpace(ch)) inWord = false;
      else if (!inWord) {
        inWord = true;
        words++;
      }
    }
    // Counts message: the work header and path as received, then lines, words, bytes (u64 each),
    // and whether the chunk starts and ends inside a word (to join words cut by chunk borders).
    const head = 16 + pathLen;
    const out = new Uint8Array(head + 26);
    out.set(bytes.subarray(0, head));
    const ov = new DataView(out.buffer);
    ov.setUint64(head, lines, true);
    ov.setUint64(head + 8, words, true);
    ov.setUint64(head + 16, <u64>data.length, true);
    out[head + 24] = data.length > 0 && !isSpace(data[0]) ? 1 : 0;
    out[head + 25] = data.length > 0 && !isSpace(data[data.length - 1]) ? 1 : 0;
    const errno = counts.send(out);
    if (errno != 0) die("send counts", errno);
  }
}

class FileCounts {
  lines: u64 = 0;
  words: u64 = 0;
  bytes: u64 = 0;
  chunks: i32 = 0;
  seen: i32 = 0;
  starts: Uint8Array = new Uint8Array(0);
  ends: Uint8Array = new Uint8Array(0);
  path: string = "";
}

function reducer(): void {
  const counts = new Receiver(initialHandle(0).value);
  const report = new Sender(initialHandle(1).value);
  const files = new Map<i32, FileCounts>();
  while (true) {
    const message = counts.recv();
    if (message.errno == Errno.PIPE) break; // every mapper has ended
    const bytes = message.value.data;
    const view = new DataView(bytes.buffer);
    const file = <i32>view.getUint32(0, true);
    const chunk = <i32>view.getUint32(4, true);
    const chunks = <i32>view.getUint32(8, true);
    const pathLen = <i32>view.getUint32(12, true);
    const head = 16 + pathLen;
    if (!files.has(file)) {
      const fc = new FileCounts();
      fc.path = String.UTF8.decodeUnsafe(bytes.dataStart + 16, pathLen);
      fc.chunks = chunks;
      fc.starts = new Uint8Array(chunks);
      fc.ends = new Uint8Array(chunks);
      files.set(file, fc);
    }
    const fc = files.get(file);
    fc.lines += view.getUint64(head, true);
    fc.words += view.getUint64(head + 8, true);
    fc.bytes += view.getUint64(head + 16, true);
    fc.starts[chunk] = bytes[head + 24];
    fc.ends[chunk] = bytes[head + 25];
    fc.seen++;
  }
  // Files in the source's order (by name); a word cut by a chunk border was counted twice.
  const keys = files.keys().sort((a: i32, b: i32): i32 => a - b);
  let lines: u64 = 0, words: u64 = 0, total: u64 = 0;
  for (let k = 0; k < keys.length; k++) {
    const fc = files.get(keys[k]);
    if (fc.seen != fc.chunks) die("reducer: " + fc.path + " lost chunks", Errno.IO);
    for (let c = 1; c < fc.chunks; c++) {
      if (fc.ends[c - 1] == 1 && fc.starts[c] == 1) fc.words--;
    }
    send(report, row(fc.lines, fc.words, fc.bytes, fc.path));
    lines += fc.lines;
    words += fc.words;
    total += fc.bytes;
  }
  send(report, row(lines, words, total, "total"));
}

function send(to: Sender, text: string): void {
  const errno = to.sendText(text);
  if (errno != 0) die("send report", errno);
}

// C's isspace in the "C" locale, as examples/wordcount uses.
function isSpace(ch: u8): bool {
  return ch == 32 || (ch >= 9 && ch <= 13);
}

// printf("%7llu %7llu %7llu %s\n")
function row(lines: u64, words: u64, bytes: u64, name: string): string {
  return lines.toString().padStart(7) + " " + words.toString().padStart(7) + " " + bytes.toString().padStart(7) + " " + name + "\n";
}

function die(what: string, errno: Errno): void {
  eprintln("pipeline: " + what + ": " + errnoText(errno));
  exit(1);
}
