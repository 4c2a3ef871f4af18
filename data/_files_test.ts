import { crc32 } from "node:zlib";
import { assertEquals, assertMatch, assertRejects } from "./_test_util.ts";
import { gunzip, readMaybeGzip } from "./_files.ts";

// ------------------------------------------------------------------ helpers

async function compress(bytes: Uint8Array, format: CompressionFormat): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function le32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

/**
 * A gzip member with every optional header field (FEXTRA, FNAME, FCOMMENT and a header CRC),
 * which CompressionStream never writes.
 */
async function fullHeaderMember(data: Uint8Array): Promise<Uint8Array> {
  const text = new TextEncoder();
  const head = concat(
    new Uint8Array([0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 255]),
    new Uint8Array([4, 0]),
    text.encode("ab\0c"), // the extra field may hold zeros
    text.encode("name.bin\0comment\0"),
  );
  const hcrc = crc32(head) & 0xffff;
  return concat(
    head,
    new Uint8Array([hcrc & 0xff, hcrc >> 8]),
    await compress(data, "deflate-raw"),
    le32(crc32(data)),
    le32(data.length),
  );
}

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => i * seed);

/** The error `readMaybeGzip()` gives for a file holding `bytes`. */
async function gzipError(bytes: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".gz" });
  try {
    await Deno.writeFile(path, bytes);
    const e = await assertRejects(() => readMaybeGzip(path, "TEST"), Deno.errors.InvalidData);
    assertMatch(
      e.message,
      /^TEST: file .*\.gz is not a valid gzip file \(truncated or corrupt\): /,
    );
    return e.message.slice(e.message.indexOf("corrupt): ") + "corrupt): ".length);
  } finally {
    await Deno.remove(path);
  }
}

// ------------------------------------------------------------------ gzip

Deno.test("gunzip() concatenates the members of a multi-member file, as gzip does", async () => {
  const [a, b, c] = [bytesOf(70_000, 7), bytesOf(300, 3), bytesOf(5, 1)];
  const file = concat(
    await compress(a, "gzip"),
    await fullHeaderMember(b),
    await compress(new Uint8Array(0), "gzip"),
    await compress(c, "gzip"),
  );
  const out = gunzip(file);
  assertEquals(out.constructor, Uint8Array);
  assertEquals(out, concat(a, b, c));
  // Zero bytes after the last member (padding to a block) are ignored, as gzip does.
  assertEquals(gunzip(concat(file, new Uint8Array(512))), concat(a, b, c));
  // Small outputs are copied out of node:zlib's shared pool.
  const small = gunzip(await compress(c, "gzip"));
  assertEquals([small.byteOffset, small.buffer.byteLength], [0, c.length]);
});

Deno.test("readMaybeGzip() names the truncated or corrupt member and trailing bytes", async () => {
  const [a, b] = [bytesOf(1000, 5), bytesOf(2000, 11)];
  const first = await compress(a, "gzip");
  const second = await fullHeaderMember(b);
  const at = first.length;

  assertEquals(
    await gzipError(concat(first, second.subarray(0, 40))),
    `member 2 at byte ${at}: unexpected end of file`,
  );
  // Cut inside the second member's file name.
  assertEquals(
    await gzipError(concat(first, second.subarray(0, 20))),
    `member 2 at byte ${at}: unexpected end of file`,
  );
  const badBlock = first.slice();
  badBlock[10] |= 0b110; // block type 3 is reserved
  assertEquals(await gzipError(badBlock), "member 1 at byte 0: invalid block type");
  const badCrc = concat(first, second);
  badCrc[badCrc.length - 8] ^= 1;
  assertEquals(await gzipError(badCrc), "incorrect data check");

  // Trailing bytes are an error (gzip -d warns "trailing garbage ignored"), after a zero too.
  const junk = new TextEncoder().encode("junk");
  assertEquals(
    await gzipError(concat(first, second, junk)),
    `4 bytes of trailing data after the last gzip member, at byte ${at + second.length}`,
  );
  assertEquals(
    await gzipError(concat(first, new Uint8Array(3), junk)),
    `7 bytes of trailing data after the last gzip member, at byte ${at}`,
  );
});

Deno.test("readMaybeGzip() returns a file without the gzip magic unchanged", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, new Uint8Array([0x1f, 0x8c, 1, 2]));
    assertEquals(await readMaybeGzip(path, "TEST"), new Uint8Array([0x1f, 0x8c, 1, 2]));
  } finally {
    await Deno.remove(path);
  }
});

// ------------------------------------------------------------------ data root

/**
 * What `resolveDataRoot()` returns or throws in a fresh process with the given permission flags
 * and `$DEZERO_DATA` (unset when undefined).
 */
async function rootInSubprocess(flags: string[], dezeroData?: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/root.ts`;
    await Deno.writeTextFile(
      script,
      `import { resolveDataRoot } from ${JSON.stringify(import.meta.resolve("./_files.ts"))};\n` +
        "try { console.log(resolveDataRoot()); }\n" +
        "catch (e) { console.log(`${e.name}: ${e.message}`); }\n",
    );
    const env = Deno.env.toObject();
    delete env.DEZERO_DATA;
    if (dezeroData !== undefined) env.DEZERO_DATA = dezeroData;
    const { stdout, stderr, success } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", ...flags, script],
      env,
      clearEnv: true,
      cwd: dir,
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(stdout).trim();
    if (!success) throw new Error(`${out}\n${new TextDecoder().decode(stderr)}`);
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("resolveDataRoot() names the --allow-env flag it needs instead of skipping $DEZERO_DATA", async () => {
  const home = Deno.build.os === "windows" ? "USERPROFILE" : "HOME";
  const [none, homeOnly, both, unset] = await Promise.all([
    rootInSubprocess(["--allow-read"], "/data/here"),
    rootInSubprocess([`--allow-env=${home}`], "/data/here"),
    rootInSubprocess([`--allow-env=DEZERO_DATA,${home}`], "/data/here"),
    rootInSubprocess(["--allow-env=DEZERO_DATA"]),
  ]);
  assertEquals(
    none,
    "NotCapable: Cannot find the data root: reading $DEZERO_DATA needs " +
      `--allow-env=DEZERO_DATA,${home} (or pass the root option)`,
  );
  assertEquals(
    homeOnly,
    "NotCapable: Cannot find the data root: reading $DEZERO_DATA needs " +
      "--allow-env=DEZERO_DATA (or pass the root option)",
  );
  assertEquals(both, "/data/here");
  assertEquals(
    unset,
    `NotCapable: Cannot find the data root: $DEZERO_DATA is not set and reading $${home} needs ` +
      `--allow-env=${home} (or pass the root option)`,
  );
});
