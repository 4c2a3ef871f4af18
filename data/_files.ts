/**
 * Finding, reading, gunzipping, verifying and downloading dataset files.
 * Internal to `data/`.
 *
 * @module
 */
import { gunzipSync, inflateRawSync } from "node:zlib";
import { writeFileAtomic } from "../core/_fs.ts";
import { ProgressBar } from "./progress.ts";

/** Options shared by every file-backed dataset loader. */
export interface DataRootOptions {
  /**
   * The data root: a folder holding one folder per dataset (`mnist/`, `cifar10/`, ...).
   * Defaults to `$DEZERO_DATA`, else `~/.cache/dezero`.
   */
  root?: string | URL;
  /**
   * Whether missing files may be downloaded (default true). A download also needs network
   * permission for the mirror's host; without it the loader says which files to put where.
   */
  download?: boolean;
  /**
   * Base URLs (ending in `/`) to download from instead of the dataset's own mirrors; the files
   * must still match the recorded checksums.
   */
  mirrors?: readonly string[];
  /**
   * How messages name the root setting to whoever can change it (default `the root option`):
   * a command line passes its flag (`--data-root`), so that "set --data-root or $DEZERO_DATA"
   * names what its user can set.
   */
  rootHint?: string;
}

/** One file a dataset needs. */
export interface RemoteFile {
  /** File name without `.gz` (the loader accepts the raw file or the gzip one). */
  name: string;
  /** The name under which mirrors serve the file (gzip), when the dataset can be downloaded. */
  remote?: string;
  /**
   * Accepted SHA-256 digests (hex) of the file as served; downloads without a recorded
   * checksum are refused.
   */
  sha256?: readonly string[];
}

/** Where a dataset's files come from. */
export interface FileSource {
  /** Dataset name for messages (`MNIST`). */
  dataset: string;
  /** Folder under the data root (`mnist`). */
  folder: string;
  /** Folders under `folder` searched too (where an archive unpacks its files). */
  subfolders?: readonly string[];
  /** Base URLs (ending in `/`) tried in order; empty when there is no automatic download. */
  mirrors: readonly string[];
  /** Where a person can get the files by hand. */
  homepage: string;
}

/**
 * The data root: the `root` option, else `$DEZERO_DATA`, else `~/.cache/dezero`. Without
 * permission to read those variables it throws `Deno.errors.NotCapable` naming the flag, rather
 * than guess (or prompt): an unreadable `$DEZERO_DATA` may well be set. Messages name the root
 * option as `rootHint` (see {@linkcode DataRootOptions.rootHint}).
 */
export function resolveDataRoot(root?: string | URL, rootHint = "the root option"): string {
  if (root !== undefined) return root instanceof URL ? fromFileUrl(root) : root;
  const homeVar = Deno.build.os === "windows" ? "USERPROFILE" : "HOME";
  const denied = ["DEZERO_DATA", homeVar].filter((name) => !envGranted(name));
  if (denied.includes("DEZERO_DATA")) {
    throw new Deno.errors.NotCapable(
      `Cannot find the data root: reading $DEZERO_DATA needs --allow-env=${denied.join(",")} ` +
        `(or pass ${rootHint})`,
    );
  }
  const fromEnv = Deno.env.get("DEZERO_DATA");
  if (fromEnv) return fromEnv;
  const home = readEnv("HOME") ?? readEnv("USERPROFILE");
  if (home) return joinPath(home, ".cache", "dezero");
  if (denied.length > 0) {
    throw new Deno.errors.NotCapable(
      `Cannot find the data root: $DEZERO_DATA is not set and reading $${homeVar} needs ` +
        `--allow-env=${homeVar} (or pass ${rootHint})`,
    );
  }
  throw new Deno.errors.NotFound(
    `Cannot find the data root: pass ${rootHint}, set $DEZERO_DATA or $HOME`,
  );
}

/** Whether `name` may be read; asks nothing, so a run never stops at a permission prompt. */
function envGranted(name: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
}

function readEnv(name: string): string | undefined {
  return envGranted(name) ? Deno.env.get(name) : undefined;
}

function fromFileUrl(url: URL): string {
  if (url.protocol !== "file:") {
    throw new TypeError(`Data root must be a path or a file: URL, got ${url.href}`);
  }
  return decodeURIComponent(url.pathname.replace(/^\/([A-Za-z]:)/, "$1"));
}

/**
 * Joins path segments with `/` (accepted by Deno on every platform). An empty first segment is
 * the current folder, as in `path.join` (`joinPath("", "a")` is `a`), never the root `/`.
 */
export function joinPath(...parts: string[]): string {
  const [first = "", ...rest] = parts;
  // Trailing slashes go, except that of the root itself ("/" and "//" stay "/").
  const head = first.replace(/\/+$/, "") || (first.startsWith("/") ? "/" : "");
  const tail = rest.map((p) => p.replace(/^\/+|\/+$/g, "")).filter((p) => p.length > 0);
  if (head === "") return tail.join("/");
  if (head === "/") return "/" + tail.join("/");
  return [head, ...tail].join("/");
}

/** Reads a file and gunzips it when it starts with the gzip magic bytes. */
export async function readMaybeGzip(path: string, dataset: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return gunzip(bytes);
  } catch (e) {
    throw new Deno.errors.InvalidData(
      `${dataset}: file ${path} is not a valid gzip file (truncated or corrupt): ${
        describeGzipError(bytes, e as Error)
      }`,
    );
  }
}

/**
 * Decompresses gzip bytes. A file of several members (as `pigz` or `cat a.gz b.gz` make) gives
 * the concatenation of the members, and zero bytes after the last member (block padding) are
 * ignored, as gzip does; other trailing bytes are an error (gzip warns "trailing garbage
 * ignored").
 */
export function gunzip(bytes: Uint8Array): Uint8Array {
  // node:zlib reads member after member and stops at a zero byte where the next header would
  // start; `info` tells how far it read. (DecompressionStream rejects a second member, and is
  // slower: about 150 ms against 100 ms on MNIST's training images.)
  const { buffer, engine } = gunzipSync(bytes, { info: true }) as unknown as ZlibInfo;
  const end = engine.bytesWritten;
  if (bytes.subarray(end).some((b) => b !== 0)) throw new Error(trailingMessage(bytes, end));
  // A plain Uint8Array, not a Buffer (whose slice() is a view); small Buffers share a pool.
  const own = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
  return own ? new Uint8Array(buffer.buffer) : new Uint8Array(buffer);
}

/** What node:zlib's `*Sync` functions return with `info: true`. */
interface ZlibInfo {
  buffer: Uint8Array;
  engine: { bytesWritten: number };
}

function trailingMessage(bytes: Uint8Array, end: number): string {
  return `${bytes.length - end} bytes of trailing data after the last gzip member, at byte ${end}`;
}

/**
 * Where gunzipping `bytes` failed, walking its members (on the error path only, so loading
 * never inflates twice): the member that is truncated or corrupt, or the trailing bytes that
 * zlib read as a broken header. Falls back to zlib's message (a checksum mismatch, say).
 */
function describeGzipError(bytes: Uint8Array, error: Error): string {
  let at = 0;
  let member = 1;
  for (; at < bytes.length; member++) {
    const header = gzipHeaderLength(bytes, at);
    if (header < 0) break;
    const where = `member ${member} at byte ${at}`;
    if (at + header > bytes.length) return `${where}: unexpected end of file`;
    let inflated: number;
    try {
      const raw = bytes.subarray(at + header);
      inflated = (inflateRawSync(raw, { info: true }) as unknown as ZlibInfo).engine.bytesWritten;
    } catch (e) {
      return `${where}: ${(e as Error).message}`;
    }
    const end = at + header + inflated + 8;
    if (end > bytes.length) return `${where}: unexpected end of file`;
    at = end;
  }
  return member > 1 && at < bytes.length ? trailingMessage(bytes, at) : error.message;
}

/**
 * The length of the gzip member header (RFC 1952) at `at`, or -1 when no deflate member starts
 * there; it may run past the end of a truncated file.
 */
function gzipHeaderLength(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== 0x1f || bytes[at + 1] !== 0x8b || bytes[at + 2] !== 8) return -1;
  const flags = bytes[at + 3];
  let p = at + 10;
  if (flags & 4) p += 2 + (bytes[p] | (bytes[p + 1] << 8)); // FEXTRA: length, then the field
  for (const flag of [8, 16]) { // FNAME, FCOMMENT: zero-terminated
    if (!(flags & flag)) continue;
    while (p < bytes.length && bytes[p] !== 0) p++;
    p++;
  }
  if (flags & 2) p += 2; // FHCRC
  return p - at;
}

/** SHA-256 of `bytes` as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The path of each file, as found (`name` or `name.gz`) under `<root>/<folder>/`, downloading
 * the missing ones where allowed. Throws `Deno.errors.NotFound` naming every missing file and
 * where to put it otherwise; the missing ones of `others` (the dataset's other split) are
 * listed too, so that one look at the message gets the user every file.
 */
export async function locateFiles(
  source: FileSource,
  files: readonly RemoteFile[],
  options: DataRootOptions = {},
  others: readonly RemoteFile[] = [],
): Promise<string[]> {
  const dir = joinPath(resolveDataRoot(options.root, options.rootHint), source.folder);
  const dirs = [dir, ...(source.subfolders ?? []).map((sub) => joinPath(dir, sub))];
  const find = async (f: RemoteFile): Promise<string | null> => {
    for (const d of dirs) {
      for (const c of [joinPath(d, f.name), joinPath(d, f.name + ".gz")]) {
        if (await exists(c)) return c;
      }
    }
    return null;
  };
  const found: (string | null)[] = [];
  for (const f of files) found.push(await find(f));
  const missing = files.filter((_, i) => found[i] === null);
  if (missing.length === 0) return found as string[];
  // Looked for only now, on the way to an error message.
  const alsoMissing = async () => {
    const absent: RemoteFile[] = [];
    for (const f of others) if (await find(f) === null) absent.push(f);
    return absent;
  };
  if (options.mirrors) source = { ...source, mirrors: options.mirrors };

  const downloadable = options.download !== false && source.mirrors.length > 0 &&
    missing.every((f) => f.remote && f.sha256?.length);
  if (downloadable && await anyMirrorGranted(source.mirrors)) {
    for (const f of missing) {
      const path = joinPath(dir, f.remote!);
      try {
        await download(source, f, path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        // Say how to get the files by hand too.
        const still = [...files.filter((_, i) => found[i] === null), ...await alsoMissing()];
        throw new Deno.errors.NotFound(
          `${e.message}\n${missingMessage(source, still, dir, { hint: options.rootHint })}`,
        );
      }
      found[files.indexOf(f)] = path;
    }
    return found as string[];
  }
  throw new Deno.errors.NotFound(
    missingMessage(source, [...missing, ...await alsoMissing()], dir, {
      downloadable,
      hint: options.rootHint,
    }),
  );
}

function missingMessage(
  source: FileSource,
  missing: readonly RemoteFile[],
  dir: string,
  { downloadable = false, hint = "the root option" }: { downloadable?: boolean; hint?: string },
): string {
  const list = missing.map((f) => `  ${f.name}.gz (or ${f.name} uncompressed)`).join("\n");
  const hosts = source.mirrors.map((m) => new URL(m).host);
  const how = downloadable
    ? `, or grant network access (--allow-net=${hosts[0]}) to download them automatically`
    : "";
  return `${source.dataset}: missing data files in ${dir}:\n${list}\n` +
    `Get them from ${source.homepage} and put them there, set ${hint} or $DEZERO_DATA ` +
    `to a folder that holds ${source.folder}/${how}`;
}

async function anyMirrorGranted(mirrors: readonly string[]): Promise<boolean> {
  for (const m of mirrors) {
    const { state } = await Deno.permissions.query({ name: "net", host: new URL(m).host });
    if (state === "granted") return true;
  }
  return false;
}

/**
 * Downloads `file` from the first mirror whose host is granted and whose bytes match the
 * checksum, showing a progress bar, and writes it atomically (temp file, then rename).
 */
async function download(source: FileSource, file: RemoteFile, path: string): Promise<void> {
  const errors: string[] = [];
  for (const mirror of source.mirrors) {
    const url = new URL(file.remote!, mirror);
    const { state } = await Deno.permissions.query({ name: "net", host: url.host });
    if (state !== "granted") continue;
    let bytes: Uint8Array;
    try {
      bytes = await fetchWithProgress(url, `${source.dataset} ${file.remote}`);
    } catch (e) {
      errors.push(`${url.href}: ${(e as Error).message}`);
      continue;
    }
    const actual = await sha256Hex(bytes);
    if (!file.sha256!.includes(actual)) {
      errors.push(
        `${url.href}: SHA-256 ${actual} does not match the expected ${file.sha256!.join(" or ")}`,
      );
      continue;
    }
    await writeFileAtomic(path, bytes);
    return;
  }
  throw new Deno.errors.NotFound(
    `${source.dataset}: could not download ${file.remote}:\n  ${errors.join("\n  ")}`,
  );
}

async function fetchWithProgress(url: URL, label: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status} ${response.statusText}`);
  }
  const total = Number(response.headers.get("content-length")) || 0;
  const bar = new ProgressBar({ total, label, unit: "bytes" });
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk);
    received += chunk.length;
    bar.update(chunk.length);
  }
  bar.finish();
  const out = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
