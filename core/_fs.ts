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
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = path.slice(slash + 1);
  await Deno.mkdir(dir, { recursive: true });
  const existingMode = await fileMode(path);
  const { file, tmp } = await createTemp(dir, base);
  try {
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    if (existingMode !== null) await Deno.chmod(tmp, existingMode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** The permission bits of an existing file at `path` (null when none, or on Windows). */
async function fileMode(path: string): Promise<number | null> {
  try {
    const mode = (await Deno.stat(path)).mode;
    return mode === null ? null : mode & 0o777;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
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
