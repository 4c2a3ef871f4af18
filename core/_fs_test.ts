import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { writeFileAtomic } from "./_fs.ts";

const bytes = new TextEncoder().encode("weights");
const mode = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test({
  name: "writeFileAtomic() gives a new file the umask's mode and keeps an existing file's",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // A plain write gives 0o666 less the umask: the mode a new file should get.
      await Deno.writeFile(`${dir}/plain`, bytes);
      await writeFileAtomic(`${dir}/new`, bytes);
      equal(mode(`${dir}/new`).toString(8), mode(`${dir}/plain`).toString(8));
      // Overwriting keeps the file's own mode (not the temporary file's 0600).
      await Deno.writeFile(`${dir}/old`, bytes);
      await Deno.chmod(`${dir}/old`, 0o640);
      await writeFileAtomic(`${dir}/old`, bytes);
      equal(mode(`${dir}/old`).toString(8), "640");
      equal(await Deno.readTextFile(`${dir}/old`), "weights");
      equal([...Deno.readDirSync(dir)].length, 3, "no temporary file is left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The names in `dir`, sorted. */
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** Asserts that `p` rejects with `Class` and a message starting with `message`; returns the error. */
async function rejectsWith(
  p: Promise<unknown>,
  Class: new (...args: never[]) => Error,
  message: string,
): Promise<Error> {
  let error: unknown;
  await rejects(p, (e) => {
    error = e;
    return true;
  });
  ok(error instanceof Class, `expected a ${Class.name}, got ${error}`);
  ok(error.message.startsWith(message), `${JSON.stringify(message)}: got ${error.message}`);
  return error;
}

Deno.test("writeFileAtomic() rejects a path that names no file with a TypeError, writing nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejectsWith(writeFileAtomic("", bytes), TypeError, 'Cannot write "": the path is empty');
    await rejectsWith(
      writeFileAtomic(`${dir}/sub/`, bytes),
      TypeError,
      `Cannot write "${dir}/sub/": the path ends in a separator`,
    );
    await rejectsWith(
      writeFileAtomic(`${dir}\\`, bytes),
      TypeError,
      `Cannot write "${dir}\\": the path ends in a separator`,
    );
    deepStrictEqual(names(dir), [], "the folder of a path ending in a separator is not created");
    await Deno.mkdir(`${dir}/folder`);
    await Deno.writeTextFile(`${dir}/folder/keep`, "x");
    for (const path of [`${dir}/folder`, `${dir}/folder/.`, dir]) {
      await rejectsWith(
        writeFileAtomic(path, bytes),
        TypeError,
        `Cannot write "${path}": it is a folder`,
      );
    }
    deepStrictEqual(names(dir), ["folder"]);
    deepStrictEqual(names(`${dir}/folder`), ["keep"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() names the path when a folder above it is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "kept");
    const path = `${dir}/file/sub/w.safetensors`;
    const e = await rejectsWith(
      writeFileAtomic(path, bytes),
      Deno.build.os === "windows" ? Error : Deno.errors.NotADirectory,
      `Cannot write "${path}": `,
    );
    ok(e.cause instanceof Error, "the OS error is the cause");
    if (Deno.build.os !== "windows") {
      ok(e.message.includes("a folder above it is a file"), e.message);
      equal((e as Error & { code?: string }).code, "ENOTDIR");
    }
    equal(await Deno.readTextFile(`${dir}/file`), "kept");
    deepStrictEqual(names(dir), ["file"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Bytes whose writing fails as a full disk does, after the temporary file is made. */
class FullDisk extends Uint8Array {
  override subarray(): Uint8Array<ArrayBuffer> {
    throw Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
  }
}

Deno.test("writeFileAtomic() names the path when the write fails, removes the temporary file and keeps the old one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/old`, "old");
    for (const target of ["old", "new"]) {
      const path = `${dir}/${target}`;
      const e = await rejectsWith(
        writeFileAtomic(path, new FullDisk(8)),
        Error,
        `Cannot write "${path}": No space left on device (os error 28)`,
      );
      equal((e.cause as Error).message, "No space left on device (os error 28)");
      equal((e as Error & { code?: string }).code, "ENOSPC");
    }
    equal(await Deno.readTextFile(`${dir}/old`), "old");
    deepStrictEqual(names(dir), ["old"], "no temporary file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
