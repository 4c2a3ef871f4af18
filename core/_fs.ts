/**
 * Atomic file writes: the bytes go to a temporary file in the same folder,
 * are synced, and the file is renamed over the target, so a crash never
 * leaves a half-written file.
 *
 * @module
 */

/**
 * Writes `bytes` to `path` atomically, creating the folder when needed. The file
 * gets the mode a plain write gives: an existing file's own, else `0o666` less the
 * umask (the temporary file is created with that mode, not `Deno.makeTempFile`'s 0600).
 *
 * A path that cannot name a file (empty, ending in a separator, an existing
 * folder) is a TypeError before anything is written. Every other failure is
 * the file system's error class with a message naming `path`, the OS error as
 * its `cause` (and its `code`, such as `"ENOSPC"`); the temporary file is
 * removed and a file already at `path` is left as it was.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const { dir, base } = splitTarget(path);
  const existing = await orWriteError(path, () => statOrNull(path));
  if (existing?.isDirectory) {
    throw new TypeError(`Cannot write "${path}": it is a folder: name a file in it`);
  }
  await orWriteError(path, () => Deno.mkdir(dir, { recursive: true }));
  const { file, tmp } = await orWriteError(path, () => createTemp(dir, base));
  try {
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    if (existing?.mode != null) await Deno.chmod(tmp, existing.mode & 0o777);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw writeError(path, e);
  }
}

/** The folder and file name of `path`; a TypeError unless it can name a file. */
function splitTarget(path: string): { dir: string; base: string } {
  if (typeof path !== "string") {
    throw new TypeError(`Cannot write a file: the path must be a string, got ${typeof path}`);
  }
  if (path === "") throw new TypeError(`Cannot write "": the path is empty: name a file`);
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const base = path.slice(slash + 1);
  if (base === "") {
    throw new TypeError(
      `Cannot write "${path}": the path ends in a separator, so it names a folder: name a file`,
    );
  }
  return { dir: slash >= 0 ? path.slice(0, slash) || "/" : ".", base };
}

/** What is at `path` (null when nothing is). */
async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** `step()`, its failure rethrown as {@linkcode writeError} names it. */
async function orWriteError<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    throw writeError(path, e);
  }
}

/**
 * A failure to write `path`: the OS error's own class (`Deno.errors.PermissionDenied`,
 * or `Error` for ENOSPC and EROFS, which have none) and `code`, with a message naming
 * `path` first (the OS message names the temporary file or the folder, or nothing).
 */
function writeError(path: string, e: unknown): Error {
  const classes = Object.values(Deno.errors) as ErrorConstructor[];
  const Class = classes.find((c) => e instanceof Error && e.constructor === c) ?? Error;
  const detail = e instanceof Deno.errors.NotADirectory
    ? `a folder above it is a file (${(e as Error).message})`
    : e instanceof Error
    ? e.message
    : String(e);
  const error = new Class(`Cannot write "${path}": ${detail}`, { cause: e });
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? Object.assign(error, { code }) : error;
}

/**
 * A new temporary file next to the target, created with mode 0o666 so that the
 * umask applies as for any new file (Deno.umask is unstable; the OS applies it).
 */
async function createTemp(dir: string, base: string): Promise<{ file: Deno.FsFile; tmp: string }> {
  for (let attempt = 0;; attempt++) {
    const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
    const tmp = `${dir}/.${base}.${suffix}.tmp`;
    try {
      const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o666 });
      return { file, tmp };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists) || attempt >= 10) throw e;
    }
  }
}
