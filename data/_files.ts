/**
 * Finding, reading, gunzipping, verifying and downloading dataset files.
 * Internal to `data/`.
 *
 * @module
 */
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

/** The data root: the `root` option, else `$DEZERO_DATA`, else `~/.cache/dezero`. */
export function resolveDataRoot(root?: string | URL): string {
  if (root !== undefined) return root instanceof URL ? fromFileUrl(root) : root;
  const fromEnv = readEnv("DEZERO_DATA");
  if (fromEnv) return fromEnv;
  const home = readEnv("HOME") ?? readEnv("USERPROFILE");
  if (!home) {
    throw new Deno.errors.NotFound(
      "Cannot find the data root: pass the root option, set $DEZERO_DATA or $HOME",
    );
  }
  return joinPath(home, ".cache", "dezero");
}

function readEnv(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) : undefined;
}

function fromFileUrl(url: URL): string {
  if (url.protocol !== "file:") {
    throw new TypeError(`Data root must be a path or a file: URL, got ${url.href}`);
  }
  return decodeURIComponent(url.pathname.replace(/^\/([A-Za-z]:)/, "$1"));
}

/** Joins path segments with `/` (accepted by Deno on every platform). */
export function joinPath(...parts: string[]): string {
  return parts.map((p, i) => (i === 0 ? p.replace(/\/+$/, "") : p.replace(/^\/+|\/+$/g, "")))
    .filter((p, i) => i === 0 || p.length > 0)
    .join("/");
}

/** Reads a file and gunzips it when it starts with the gzip magic bytes. */
export async function readMaybeGzip(path: string, dataset: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return await gunzip(bytes);
  } catch (e) {
    throw new Deno.errors.InvalidData(
      `${dataset}: file ${path} is not a valid gzip file (truncated or corrupt): ${
        (e as Error).message
      }`,
    );
  }
}

/** Decompresses gzip bytes with the built-in `DecompressionStream`. */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
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
 * where to put it otherwise.
 */
export async function locateFiles(
  source: FileSource,
  files: readonly RemoteFile[],
  options: DataRootOptions = {},
): Promise<string[]> {
  const dir = joinPath(resolveDataRoot(options.root), source.folder);
  const dirs = [dir, ...(source.subfolders ?? []).map((sub) => joinPath(dir, sub))];
  const found: (string | null)[] = [];
  for (const f of files) {
    const candidates = dirs.flatMap((d) => [joinPath(d, f.name), joinPath(d, f.name + ".gz")]);
    let hit: string | null = null;
    for (const c of candidates) {
      if (await exists(c)) {
        hit = c;
        break;
      }
    }
    found.push(hit);
  }
  const missing = files.filter((_, i) => found[i] === null);
  if (missing.length === 0) return found as string[];
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
        throw new Deno.errors.NotFound(
          `${e.message}\n${
            missingMessage(source, files.filter((_, i) => found[i] === null), dir, false)
          }`,
        );
      }
      found[files.indexOf(f)] = path;
    }
    return found as string[];
  }
  throw new Deno.errors.NotFound(missingMessage(source, missing, dir, downloadable));
}

function missingMessage(
  source: FileSource,
  missing: readonly RemoteFile[],
  dir: string,
  downloadable: boolean,
): string {
  const list = missing.map((f) => `  ${f.name}.gz (or ${f.name} uncompressed)`).join("\n");
  const hosts = source.mirrors.map((m) => new URL(m).host);
  const how = downloadable
    ? `, or grant network access (--allow-net=${hosts[0]}) to download them automatically`
    : "";
  return `${source.dataset}: missing data files in ${dir}:\n${list}\n` +
    `Get them from ${source.homepage} and put them there, set the root option or $DEZERO_DATA ` +
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
