/**
 * Atomic file writes: the bytes go to a temporary file in the same folder,
 * are synced, and the file is renamed over the target, so a crash never
 * leaves a half-written file.
 *
 * @module
 */

/** Writes `bytes` to `path` atomically, creating the folder when needed. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = path.slice(slash + 1);
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempFile({ dir, prefix: `.${base}.`, suffix: ".tmp" });
  try {
    const file = await Deno.open(tmp, { write: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
